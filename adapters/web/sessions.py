"""Open browser tabs grouped by session, each with its own outgoing queue.

A slow tab never holds up another: frames go into a per-connection queue that
a writer task drains. A frame that cannot be encoded or written is logged and
skipped; the writer goes on with the next one (only a closed socket ends it). Replies for a session with no tab open are held for a
while (bounded) and replayed when a tab of that session connects again.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from core.sanitize import clean_text

log = logging.getLogger(__name__)

_QUEUE_LIMIT = 1000


class Connection:
    """One open WebSocket (one browser tab) and the task that writes to it."""

    def __init__(self, session: str, ws: web.WebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(_QUEUE_LIMIT)
        self._writer = asyncio.create_task(self._write(), name=f"web-tab-{session}")
        self._closing: asyncio.Task[bool] | None = None

    def send(self, frame: dict[str, Any]) -> None:
        """Queue ``frame``; a tab that falls 1,000 frames behind is closed (it will reconnect)."""
        try:
            text = clean_text(json.dumps(frame, ensure_ascii=False))
        except (TypeError, ValueError) as exc:
            log.error("web tab of session %s: frame %r cannot be encoded (%s); skipped", self.session, frame.get("type"), exc)
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("web tab of session %s is too slow; closing it", self.session)
            if self._closing is None:
                self._closing = asyncio.create_task(self.ws.close(code=1013, message=b"too slow"))

    async def _write(self) -> None:
        while (text := await self._queue.get()) is not None:
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:
                log.info("web tab of session %s went away: %s", self.session, exc)
                return
            except Exception:
                log.exception("web tab of session %s: a frame could not be written; skipped", self.session)

    async def close(self) -> None:
        """Flush what is queued (bounded), then stop the writer."""
        try:
            self._queue.put_nowait(None)
        except asyncio.QueueFull:
            self._writer.cancel()
        try:
            await asyncio.wait_for(self._writer, 2.0)
        except (TimeoutError, asyncio.CancelledError):
            self._writer.cancel()


class SessionHub:
    """The open connections of every session, and replies held for absent sessions.

    Args:
        pending_events: most frames held per session while it has no tab open.
        pending_ttl_s: how long held frames are kept.
    """

    def __init__(self, pending_events: int = 200, pending_ttl_s: float = 120.0) -> None:
        self._tabs: dict[str, set[Connection]] = {}
        self._held: dict[str, collections.deque[tuple[float, dict[str, Any]]]] = {}
        self.pending_events = pending_events
        self.pending_ttl_s = pending_ttl_s

    @property
    def connections(self) -> int:
        """How many tabs are open."""
        return sum(len(tabs) for tabs in self._tabs.values())

    @property
    def sessions(self) -> int:
        """How many sessions have at least one tab open."""
        return len(self._tabs)

    def all(self) -> list[Connection]:
        """Every open connection."""
        return [c for tabs in self._tabs.values() for c in tabs]

    def add(self, conn: Connection) -> None:
        """Register ``conn`` and replay what its session missed."""
        self._tabs.setdefault(conn.session, set()).add(conn)
        held = self._held.pop(conn.session, None)
        if held:
            cutoff = time.monotonic() - self.pending_ttl_s
            for at, frame in held:
                if at >= cutoff:
                    conn.send(frame)

    def remove(self, conn: Connection) -> None:
        """Forget ``conn``."""
        tabs = self._tabs.get(conn.session)
        if tabs is not None:
            tabs.discard(conn)
            if not tabs:
                del self._tabs[conn.session]

    def broadcast(self, session: str, frame: dict[str, Any], skip: Iterable[Connection] = ()) -> int:
        """Send ``frame`` to every tab of ``session``; hold it when none is open.

        Returns:
            How many tabs it was queued for.
        """
        skipped = set(skip)
        tabs = [c for c in self._tabs.get(session, ()) if c not in skipped]
        if not tabs and session not in self._tabs:
            self._hold(session, frame)
            return 0
        for conn in tabs:
            conn.send(frame)
        return len(tabs)

    def _hold(self, session: str, frame: dict[str, Any]) -> None:
        if self.pending_events <= 0 or frame.get("type") == "typing":
            return
        now = time.monotonic()
        self._prune(now)
        queue = self._held.setdefault(session, collections.deque(maxlen=self.pending_events))
        queue.append((now, frame))

    def _prune(self, now: float) -> None:
        cutoff = now - self.pending_ttl_s
        for session in [s for s, q in self._held.items() if not q or q[-1][0] < cutoff]:
            del self._held[session]
