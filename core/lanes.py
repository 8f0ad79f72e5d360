"""Per-key FIFO workers: items of one key are handled in order, different keys run concurrently.

Adapters deliver replies through lanes keyed by chat: a chat's replies never overtake each
other, and a slow chat does not hold up the others. A lane (its queue and its worker task) is
created by the first item for its key and freed when its worker returns (the default worker
returns after ``idle_s`` without items), so only the chats active lately hold a task. Nothing is
dropped: queues are unbounded, and an item whose handling fails is logged and skipped.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A lane's worker loop: reads the lane's queue (``get``/``get_nowait``) and returns when the lane may be freed.
Work = Callable[[str, "asyncio.Queue[T]"], Awaitable[None]]


class Lanes(Generic[T]):
    """One FIFO queue and worker task per key, created on demand and freed when idle.

    Args:
        handle: called for each item in order, by the default worker (which frees its lane after
            ``idle_s`` without items, and logs and skips an item that raises).
        work: a custom worker loop instead of ``handle`` (exactly one of the two); it must return
            only when its queue is empty. The lane is freed when it returns (and started again if
            an item came in meanwhile).
        idle_s: how long the default worker waits for an item before freeing its lane.
        name: prefix of the worker tasks' names and of log lines.
    """

    def __init__(
        self,
        handle: Callable[[T], Awaitable[None]] | None = None,
        *,
        work: Work[T] | None = None,
        idle_s: float = 60.0,
        name: str = "lane",
    ) -> None:
        if (handle is None) == (work is None):
            raise ValueError("Lanes needs exactly one of handle= and work=")
        self._handle = handle
        self._work: Work[T] = work if work is not None else self._each
        self.idle_s = idle_s
        self.name = name
        self._queues: dict[str, asyncio.Queue[T]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    def put(self, key: str, item: T) -> None:
        """Queue ``item`` behind the earlier items of ``key`` (never blocks, never drops)."""
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
        queue.put_nowait(item)
        if key not in self._workers:
            self._start(key, queue)

    def _start(self, key: str, queue: asyncio.Queue[T]) -> None:
        # A fresh context: the worker outlives the message whose delivery started it, so it must
        # not inherit that message's log id.
        task = asyncio.create_task(self._run(key, queue), name=f"{self.name}-{key}", context=contextvars.Context())
        self._workers[key] = task

    async def _run(self, key: str, queue: asyncio.Queue[T]) -> None:
        try:
            await self._work(key, queue)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
                if queue.empty():
                    self._queues.pop(key, None)
                elif not _cancelling():
                    self._start(key, queue)  # an item came in as the worker was leaving

    async def _each(self, key: str, queue: asyncio.Queue[T]) -> None:
        assert self._handle is not None
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=self.idle_s)
            except TimeoutError:
                if queue.empty():
                    return
                continue
            try:
                await self._handle(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: an item of lane %s failed; going on with the next", self.name, key)
            finally:
                queue.task_done()

    @property
    def active(self) -> int:
        """Lanes with a running worker."""
        return len(self._workers)

    @property
    def pending(self) -> int:
        """Items queued, plus one per running worker (it may be handling one)."""
        return sum(q.qsize() for q in self._queues.values()) + len(self._workers)

    async def join(self) -> None:
        """Wait until every item queued so far has been handled (default worker only: it marks items done)."""
        for queue in list(self._queues.values()):
            await queue.join()

    async def drain(self, timeout_s: float) -> int:
        """Wait (bounded) for every worker to finish its queue, then cancel the rest; returns how many were cut off."""
        deadline = time.monotonic() + timeout_s
        while self._workers and time.monotonic() < deadline:
            await asyncio.wait(set(self._workers.values()), timeout=max(0.0, deadline - time.monotonic()))
        left = len(self._workers)
        await self.stop()
        return left

    async def stop(self) -> None:
        """Cancel every worker and forget what is queued."""
        tasks = list(self._workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._queues.clear()
        self._workers.clear()


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
