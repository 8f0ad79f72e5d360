"""Start/stop protocol shared by every resource (adapters, engines, stores, buses)."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Self


class Resource:
    """A resource with ``start``/``stop`` that also works as ``async with``.

    Subclasses override :meth:`start` and :meth:`stop`; both must be idempotent.
    """

    async def start(self) -> None:
        """Acquire what the resource needs (connections, models)."""

    async def stop(self) -> None:
        """Release everything; safe to call twice."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has ended, whatever it ends with (shutting down)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
