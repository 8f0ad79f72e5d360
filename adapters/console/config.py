"""Config of the console adapter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConsoleConfig(BaseModel):
    """The terminal chat (used by ``python run.py chat``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    user: str = "you"
