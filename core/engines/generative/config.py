"""Config of the generative engine."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GenerativeEngineConfig(BaseModel):
    """The shipped (or your own) generative model."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["generative"]
    path: str = "models/chitchat"
    temperature: float = Field(default=0.8, ge=0, le=5)
    top_k: int = Field(default=40, ge=0)
    top_p: float = Field(default=0.9, gt=0, le=1)
    repetition_penalty: float = Field(default=1.2, ge=1)
    max_tokens: int = Field(default=32, ge=1, le=512)
