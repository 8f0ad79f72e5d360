"""Config of the generative engine."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GenerativeEngineConfig(BaseModel):
    """The shipped (or your own) generative model."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["generative"]
    #: model directory (or model.pt); relative paths resolve from the repository root
    path: str = "models/chitchat"
    temperature: float = Field(default=0.8, ge=0, le=5)
    top_k: int = Field(default=40, ge=0)
    top_p: float = Field(default=0.9, gt=0, le=1)
    repetition_penalty: float = Field(default=1.2, ge=1)
    max_tokens: int = Field(default=32, ge=1, le=512)
    #: earlier turns the model sees besides the new message
    context_turns: int = Field(default=4, ge=0, le=32)
    #: fixed seed for reproducible replies (None: random)
    seed: int | None = None
    #: most concurrent requests decoded as one batch
    max_batch: int = Field(default=32, ge=1, le=256)
    #: how long a request waits for others to join its batch
    batch_window_ms: float = Field(default=0.0, ge=0, le=100)
    #: tokens decoded within this time after the last piece reach the pipeline as one piece (the first
    #: token at once); 0: a piece per token. The pipeline sends a streamed reply every 50 ms at most anyway.
    piece_interval_ms: float = Field(default=50.0, ge=0, le=1000)
    #: languages the model answers; other languages are declined (NoAnswer) for the next engine
    languages: list[str] = Field(default_factory=lambda: ["en"])
    #: torch CPU threads for inference (0: torch's default)
    threads: int = Field(default=0, ge=0)
