"""Stops something at the one moment Python 3.11's ``asyncio.wait_for`` loses a cancellation.

``wait_for`` runs the awaited call in a task of its own. When the caller is cancelled after
that task has ended but before the caller wakes up, 3.11's ``wait_for`` returns the call's
result and the cancellation is gone (gh-86296; 3.12 rewrote ``wait_for``). Under CPU load
many callbacks run in one turn of the loop and this window is hit by chance: a background
loop that was told to stop goes on, and whoever awaits its end waits for ever. Here it is
hit on purpose: the stop starts in the very callback that says the call ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any


@contextlib.contextmanager
def stop_as_a_subtask_ends(task_name: str, stop: Callable[[], Awaitable[object]]) -> Iterator[list[asyncio.Future[Any]]]:
    """Start ``stop()`` the moment the first task started by the task named ``task_name`` ends.

    Yields:
        a list that holds the stop's task once it started (empty until then).
    """
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    started: list[asyncio.Future[Any]] = []
    armed = True

    def factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> asyncio.Future[Any]:
        nonlocal armed
        task = previous(loop, coro, **kwargs) if previous is not None else asyncio.Task(coro, loop=loop, **kwargs)
        parent = asyncio.current_task(loop)
        if armed and parent is not None and parent.get_name() == task_name:
            armed = False
            task.add_done_callback(lambda _: started.append(asyncio.ensure_future(stop())))
        return task

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        yield started
    finally:
        loop.set_task_factory(previous)


async def started_within(started: list[asyncio.Future[Any]], timeout_s: float = 30.0) -> asyncio.Future[Any]:
    """The stop's task, once :func:`stop_as_a_subtask_ends` started it (at most ``timeout_s``)."""
    async with asyncio.timeout(timeout_s):
        while not started:
            await asyncio.sleep(0.01)
    return started[0]


async def ends_within(stopping: asyncio.Future[Any], timeout_s: float = 10.0) -> bool:
    """True when ``stopping`` ended within ``timeout_s`` (it is left running otherwise)."""
    done, _ = await asyncio.wait({stopping}, timeout=timeout_s)
    return bool(done)
