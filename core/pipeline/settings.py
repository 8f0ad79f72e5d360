"""Pipeline settings: frozen values, and the one definition of the ``pipeline:`` section of config.yaml.

The ``bots`` package validates these dataclasses straight from the config file (pydantic reads the
``Field`` bounds in the annotations and refuses unknown keys); code builds them like any dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import ConfigDict, Field

from core.stt import ListenSettings

_STRICT = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class FloodLimits:
    """At most ``per_user`` messages per user and ``per_chat`` per chat in ``window_s`` seconds (0 disables a limit)."""

    __pydantic_config__ = _STRICT

    per_user: Annotated[int, Field(ge=0)] = 8
    per_chat: Annotated[int, Field(ge=0)] = 20
    window_s: Annotated[float, Field(gt=0)] = 10.0


@dataclass(frozen=True, slots=True)
class AccessRules:
    """Allow and deny lists of chat and user keys (``platform:id``); empty allow lists allow all.

    ``admin_commands`` (with or without their ``/``) may be used by ``admins`` only.
    """

    __pydantic_config__ = _STRICT

    allow_chats: frozenset[str] = frozenset()
    deny_chats: frozenset[str] = frozenset()
    allow_users: frozenset[str] = frozenset()
    deny_users: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    admin_commands: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "admin_commands", frozenset(c.lstrip("/") for c in self.admin_commands))


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """Knobs of the pipeline.

    ``voice_by_default`` and ``default_voice`` come from a bot's ``voice:`` section, not from ``pipeline:``.
    """

    __pydantic_config__ = _STRICT

    history_turns: Annotated[int, Field(ge=1, le=1000)] = 20
    max_input_chars: Annotated[int, Field(ge=1)] = 4000
    engine_timeout_s: Annotated[float, Field(gt=0)] = 20.0
    first_piece_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    #: after the first delta of a streamed reply, pieces are sent together at most this often
    stream_interval_s: Annotated[float, Field(ge=0, le=5)] = 0.05
    dedupe_ttl_s: Annotated[float, Field(gt=0)] = 7 * 24 * 3600.0
    voice_by_default: bool = False
    default_voice: str = ""
    voice_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    #: a message handed out this many times already (each worker that took it died) is not handled
    #: again: it gets an apology, so one poison message cannot kill every worker in turn
    max_deliveries: Annotated[int, Field(ge=1)] = 3
    flood: FloodLimits = field(default_factory=FloodLimits)
    access: AccessRules = field(default_factory=AccessRules)
    listen: ListenSettings = field(default_factory=ListenSettings)
