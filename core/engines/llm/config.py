"""Config of the OpenAI-compatible chat-completions engine."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class OpenAIEngineConfig(BaseModel):
    """Any OpenAI-compatible server: OpenAI, Ollama, vLLM, llama.cpp, LM Studio."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai"]
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60, gt=0)
    max_retries: int = Field(default=3, ge=0)
    history_tokens: int = Field(default=2000, ge=0)
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1)
