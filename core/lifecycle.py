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


def raise_if_cancelled() -> None:
    """Raise :class:`asyncio.CancelledError` when the current task was cancelled and is still running.

    Call it at the top of a background loop. On Python 3.11, ``asyncio.wait_for`` loses a
    cancellation that arrives just as the awaited call finishes: it returns the call's result
    instead of raising (gh-86296; 3.12 rewrote ``wait_for``). redis-py sends every command
    through ``wait_for``, and :class:`bots.supervisor.AdapterSupervisor` awaits an adapter's start
    with it, so a loop cancelled at that moment would go on for ever and whoever awaits its end
    (``stop``, :func:`cancel_and_wait`) with it. ``Task.cancelling()`` still counts the lost
    request, so the loop can end itself.

    Raises:
        asyncio.CancelledError: the task was cancelled.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has ended, whatever it ends with (shutting down)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
