"""Small store contracts. SQLite and in-memory implement them here; Redis can too."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from core.lifecycle import Resource
from core.model import Turn


class StoreWrite(abc.ABC):
    """A store write prepared now and done later: alone (:meth:`run`), or by a bus inside the
    transaction that carries a reply, so the reply and the write land together
    (:meth:`core.bus.Bus.send_with`)."""

    @abc.abstractmethod
    async def run(self) -> None:
        """Do the write on its own."""


class CallWrite(StoreWrite):
    """A write that is a call of the store's own method (what a store without transactions offers)."""

    def __init__(self, call: Callable[[], Awaitable[None]]) -> None:
        self._call = call

    async def run(self) -> None:
        await self._call()


class ConversationStore(Resource, abc.ABC):
    """Per-chat conversation history, bounded to the last ``max_turns`` turns."""

    def __init__(self, max_turns: int = 20) -> None:
        self.max_turns = max_turns

    @abc.abstractmethod
    async def append(self, chat_key: str, *turns: Turn) -> None:
        """Add turns at the end of the chat's history, dropping the oldest beyond the bound."""

    def appending(self, chat_key: str, *turns: Turn) -> StoreWrite:
        """The write that :meth:`append` does, prepared to be done later (with a reply: ``Bus.send_with``)."""
        return CallWrite(lambda: self.append(chat_key, *turns))

    @abc.abstractmethod
    async def recent(self, chat_key: str, limit: int | None = None) -> list[Turn]:
        """The last ``limit`` turns (default: the bound), oldest first."""

    def read_recent(self, chat_key: str, limit: int | None = None) -> asyncio.Future[list[Turn]]:
        """:meth:`recent`, started now and awaited later (the pipeline reads a message's history beside
        its first store call). Must be called with the event loop running.

        The default runs :meth:`recent` in a task. A store whose read needs none overrides it and returns
        a future: memory (done at once), Redis (resolved by the shared pipeline's reply), which saves a
        task, its scheduling and a suspension of the message per read.
        """
        return asyncio.ensure_future(self.recent(chat_key, limit))

    @abc.abstractmethod
    async def clear(self, chat_key: str) -> None:
        """Forget the chat's history."""

    async def move(self, old_key: str, new_key: str) -> int:
        """Move the history of ``old_key`` to ``new_key`` (a chat that got a new id); returns how many turns moved.

        Turns already under ``new_key`` stay after the moved ones (they are newer), within the bound;
        ``old_key`` is left empty, so moving again moves nothing.
        """
        old = await self.recent(old_key, self.max_turns)
        if not old or old_key == new_key:
            return 0
        new = await self.recent(new_key, self.max_turns)
        await self.clear(new_key)
        await self.append(new_key, *old, *new)
        await self.clear(old_key)
        return len(old)


class SettingsStore(Resource, abc.ABC):
    """Per-scope settings (a chat or a user): a small JSON object each."""

    @abc.abstractmethod
    async def get(self, scope: str) -> dict[str, Any]:
        """The settings of ``scope`` (empty when none were stored)."""

    def read(self, scope: str) -> asyncio.Future[dict[str, Any]]:
        """:meth:`get`, started now and awaited later; a task by default (see
        :meth:`ConversationStore.read_recent`)."""
        return asyncio.ensure_future(self.get(scope))

    @abc.abstractmethod
    async def update(self, scope: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into the settings of ``scope`` and return the result (a None value unsets a key)."""

    async def move(self, old_scope: str, new_scope: str) -> int:
        """Move the settings of ``old_scope`` to ``new_scope``; returns how many values moved.

        A value already set under ``new_scope`` wins over the moved one; ``old_scope``'s values are
        unset, so moving again moves nothing.
        """
        old = {k: v for k, v in (await self.get(old_scope)).items() if v is not None}
        if not old or old_scope == new_scope:
            return 0
        current = await self.get(new_scope)
        moved = {k: v for k, v in old.items() if current.get(k) is None}
        if moved:
            await self.update(new_scope, moved)
        await self.update(old_scope, dict.fromkeys(old))
        return len(old)


class DedupeStore(Resource, abc.ABC):
    """Remembers message keys so a message is handled once."""

    @abc.abstractmethod
    async def claim(self, key: str, ttl_s: float) -> bool:
        """Return True the first time ``key`` is seen within ``ttl_s``, False after."""

    @abc.abstractmethod
    async def release(self, key: str) -> None:
        """Forget ``key``, so that the next claim succeeds (a message that was not answered after all)."""


class RateCounter(Resource, abc.ABC):
    """Counts events per key in fixed windows, for flood control."""

    @abc.abstractmethod
    async def hit(self, key: str, window_s: float) -> int:
        """Count one event for ``key`` and return the count in the current window."""
