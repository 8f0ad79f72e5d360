"""Config of the web chat adapter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebConfig(BaseModel):
    """Where the web chat listens, and the limits it enforces.

    Attributes:
        enabled: serve the web chat at all.
        host: interface to bind (``127.0.0.1`` keeps it local).
        port: TCP port; ``0`` picks a free one (see ``WebAdapter.url``).
        title: page title; empty means the bot's name.
        max_frame_bytes: largest client frame answered normally; bigger frames (up to four
            times this) get a ``too_large`` error frame, anything bigger closes the socket (1009).
        voice_clips: how many recent voice replies are kept for the page to play (on disk, in the
            voice cache's ``web/`` folder, when the bot has one; else in memory).
        voice_clips_mb: the most megabytes of such voice replies kept.
        pending_events: replies held per session while no tab is connected (replayed on reconnect).
        pending_ttl_s: how long such held replies are kept.
        allowed_origins: extra ``Origin`` values accepted on the WebSocket besides the page's own.
        max_audio_mb: the largest microphone recording the page may upload.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    title: str = ""
    max_frame_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    voice_clips: int = Field(default=200, ge=1, le=10_000)
    voice_clips_mb: int = Field(default=64, ge=1, le=100_000)
    pending_events: int = Field(default=200, ge=0, le=100_000)
    pending_ttl_s: float = Field(default=120.0, ge=0)
    allowed_origins: list[str] = Field(default_factory=list)
    max_audio_mb: float = Field(default=10.0, gt=0, le=100)
