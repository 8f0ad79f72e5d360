"""Replies out: streamed messages edited at most once per interval (ordered per channel by core.lanes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord

from adapters.discord.text import neutralize, preview

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


Send = Callable[[str], Awaitable[discord.Message]]


class StreamedMessage:
    """One message that grows as reply pieces arrive, edited at most every ``interval_s``.

    Pieces coalesce: a write waits for its turn first and only then takes the text, so it
    carries everything that has arrived, and once the final text is known (:meth:`finish`)
    the next write is the final one; no preview is sent after it.

    Args:
        send: posts the first version and returns the message.
        interval_s: minimum time between two writes (the send counts as one).
        answers: the message this reply answers (lets the adapter find the stream of a message).
    """

    def __init__(self, send: Send, interval_s: float, answers: object = None) -> None:
        self._send = send
        self.answers = answers
        self.interval_s = interval_s
        self.text = ""
        self.message: discord.Message | None = None
        self.shown = ""
        self.writes: list[float] = []
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._final: str | None = None

    def add(self, piece: str) -> None:
        """Append a piece; a background task shows it when the throttle allows."""
        self.text += piece
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="discord-stream-edit")

    async def _wait_turn(self) -> None:
        if self.writes:
            loop = asyncio.get_running_loop()
            delay = self.writes[-1] + self.interval_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    async def _write(self) -> bool:
        """Wait for the throttle, then show the latest text (the final one once known); whether it was final."""
        async with self._lock:
            await self._wait_turn()
            final = self._final
            shown = neutralize(preview(self.text if final is None else final))
            if not shown or shown == self.shown:
                return final is not None
            if self.message is None:
                self.message = await self._send(shown)
            else:
                self.message = await self.message.edit(content=shown, allowed_mentions=NO_MENTIONS)
            self.writes.append(asyncio.get_running_loop().time())
            self.shown = shown
            return final is not None

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                if await self._write():
                    return
            except asyncio.CancelledError:
                raise
            except discord.HTTPException as exc:
                log.warning("discord: streamed edit failed: %s", exc)
                if self._final is not None:
                    raise

    async def finish(self, first_piece: str) -> discord.Message | None:
        """Show ``first_piece`` (the final first message) at the next write the throttle allows, then stop.

        An edit in flight is never cancelled, so a message is never posted twice.
        """
        self._final = first_piece
        if self._task is None:
            await self._write()
        else:
            self._dirty.set()
            await self._task
        return self.message
