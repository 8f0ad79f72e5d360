"""Config models of the engines that live in ``core/engines`` (pydantic; validated from config.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EchoEngineConfig(_EngineConfig):
    """Repeats the user: for benchmarks and smoke tests."""

    kind: Literal["echo"]
    prefix: str = ""
    pieces: int = Field(default=1, ge=1, le=100)
    delay_s: float = Field(default=0.0, ge=0, le=60, description="pause before answering: stands in for a slow model in load tests")


class RetrievalEngineConfig(_EngineConfig):
    """ChatterBot-style retrieval over chatterbot-corpus."""

    kind: Literal["retrieval"]
    languages: list[str] = Field(default_factory=lambda: ["en", "zh"])
    extra_files: list[str] = Field(default_factory=list)
    min_confidence: float = Field(default=0.15, ge=0, le=1)


class FaqEngineConfig(_EngineConfig):
    """Knowledge base of questions and answers in a YAML file."""

    kind: Literal["faq"]
    path: str
    threshold: float = Field(default=0.5, ge=0, le=1)
