"""Pipeline settings as a frozen value (the ``bots`` package fills it from config.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.stt import ListenSettings


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """At most ``per_user`` messages per user and ``per_chat`` per chat in ``window_s`` seconds."""

    per_user: int = 8
    per_chat: int = 20
    window_s: float = 10.0


@dataclass(frozen=True, slots=True)
class AccessRules:
    """Allow and deny lists of chat and user keys (``platform:id``); empty allow lists allow all."""

    allow_chats: frozenset[str] = frozenset()
    deny_chats: frozenset[str] = frozenset()
    allow_users: frozenset[str] = frozenset()
    deny_users: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    admin_commands: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Knobs of the pipeline."""

    history_turns: int = 20
    max_input_chars: int = 4000
    engine_timeout_s: float = 20.0
    first_piece_timeout_s: float = 10.0
    #: after the first delta of a streamed reply, pieces are sent together at most this often
    stream_interval_s: float = 0.05
    dedupe_ttl_s: float = 7 * 24 * 3600.0
    voice_by_default: bool = False
    default_voice: str = ""
    voice_timeout_s: float = 30.0
    #: a message handed out this many times already (each worker that took it died) is not handled
    #: again: it gets an apology, so one poison message cannot kill every worker in turn
    max_deliveries: int = 3
    flood: FloodLimits = field(default_factory=FloodLimits)
    access: AccessRules = field(default_factory=AccessRules)
    listen: ListenSettings = field(default_factory=ListenSettings)
