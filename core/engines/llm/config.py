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
    #: the key itself; when unset it is read from the environment variable ``api_key_env``
    api_key: SecretStr | None = None
    api_key_env: str = "OPENAI_API_KEY"
    #: whole request, including the streamed answer
    timeout_s: float = Field(default=60, gt=0)
    #: connecting and waiting for the response headers (and between streamed chunks)
    connect_timeout_s: float = Field(default=10, gt=0)
    max_retries: int = Field(default=3, ge=0)
    #: first retry delay; doubles each retry (a Retry-After header wins)
    backoff_s: float = Field(default=0.5, ge=0)
    #: the longest Retry-After honoured; a server asking for more is given up on at once (next engine)
    max_retry_after_s: float = Field(default=30, ge=0)
    #: estimated tokens of earlier turns sent along (about 4 characters a token)
    history_tokens: int = Field(default=2000, ge=0)
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1)
