"""Who the bot listens to in a voice channel, and the state ``/listen`` keeps.

Listening is off in a guild until an admin turns it on (``/listen on``) or the config makes it the
default; the choice (and the mode) is kept per guild in the bot's settings store, so it survives a
restart. A user's opt-out (``/listen optout``) is kept with their own settings and follows them to
every guild. Without a settings store (tests, a store-less setup) both live in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.pipeline.voiceprefs import chat_scope_of, user_scope_of
from core.stores.base import SettingsStore

MODES = ("wake_word", "always")
BARGE_IN = ("stop", "duck", "ignore")


@dataclass(frozen=True, slots=True)
class ListenPolicy:
    """How the Discord adapter listens (built by ``bots`` from the bot's ``listening`` config).

    Attributes:
        enabled: listening is on in a guild before anyone uses ``/listen``.
        mode: ``wake_word`` (an utterance must start with one of ``wake_words``) or ``always``.
        wake_words: the bot's name and other words that address it.
        barge_in: when a listened-to user starts speaking over the bot: ``stop`` (stop and drop the
            turn's queue), ``duck`` (lower the bot's volume until they finish) or ``ignore``.
        duck_volume: the bot's volume while ducked.
    """

    enabled: bool = False
    mode: str = "wake_word"
    wake_words: tuple[str, ...] = ()
    barge_in: str = "stop"
    duck_volume: float = 0.3

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"listening mode must be one of {MODES}, not {self.mode!r}")
        if self.barge_in not in BARGE_IN:
            raise ValueError(f"barge_in must be one of {BARGE_IN}, not {self.barge_in!r}")


@dataclass
class ListenStore:
    """``/listen`` state: per guild (on/off, mode) and per user (opt-out).

    Args:
        settings: the bot's settings store, or None to keep everything in memory.
        bot: the bot's name (settings are kept per bot).
    """

    settings: SettingsStore | None
    bot: str
    _memory: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def _get(self, scope: str) -> dict[str, Any]:
        if self.settings is None:
            return dict(self._memory.get(scope, {}))
        return await self.settings.get(scope)

    async def _update(self, scope: str, values: dict[str, Any]) -> None:
        if self.settings is None:
            self._memory.setdefault(scope, {}).update(values)
        else:
            await self.settings.update(scope, values)

    @staticmethod
    def _guild_key(guild_id: int) -> str:
        return f"discord:guild:{guild_id}"

    async def guild(self, guild_id: int, policy: ListenPolicy) -> tuple[bool, str]:
        """Whether listening is on in ``guild_id``, and its mode (the policy's unless ``/listen`` chose)."""
        stored = (await self._get(chat_scope_of(self.bot, self._guild_key(guild_id)))).get("listening") or {}
        on = stored.get("on", policy.enabled)
        mode = stored.get("mode", policy.mode)
        return bool(on), mode if mode in MODES else policy.mode

    async def set_guild(self, guild_id: int, on: bool, mode: str | None = None) -> None:
        """Turn listening on or off in ``guild_id`` (and set its mode)."""
        scope = chat_scope_of(self.bot, self._guild_key(guild_id))
        current = (await self._get(scope)).get("listening") or {}
        value = {**current, "on": on}
        if mode is not None:
            value["mode"] = mode
        await self._update(scope, {"listening": value})

    async def opted_out(self, user_id: int) -> bool:
        """Whether the user asked not to be listened to."""
        return bool((await self._get(user_scope_of(self.bot, f"discord:{user_id}"))).get("listen_optout"))

    async def set_opted_out(self, user_id: int, out: bool) -> None:
        """Record the user's opt-out (or opt-in)."""
        await self._update(user_scope_of(self.bot, f"discord:{user_id}"), {"listen_optout": out or None})
