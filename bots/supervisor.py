"""Keeps an adapter connected: a platform that is down at start (or refuses us) is retried in the
background with backoff, while the bot's other adapters serve."""

from __future__ import annotations

import asyncio
import logging
import random

from core.adapter import Adapter
from core.backoff import Backoff, BackoffPolicy
from core.lifecycle import Resource, cancel_and_wait, raise_if_cancelled

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """One line for an exception: its type and message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AdapterSupervisor(Resource):
    """Starts one adapter; on failure logs one clear line and retries with exponential backoff.

    Args:
        adapter: the adapter to keep running.
        first_delay_s: wait before the first retry; doubles up to ``max_delay_s``.
        start_timeout_s: a start attempt that takes longer counts as failed.
        first_wait_s: :meth:`start` returns after this long even while the first attempt still runs
            (it goes on in the background), so a slow platform never holds up the others or the summary.
        cleanup_timeout_s: a stop while an attempt connects waits this long at most for the adapter to
            release what the attempt opened; a cleanup that takes longer is logged and left to finish.
    """

    def __init__(
        self,
        adapter: Adapter,
        first_delay_s: float = 5.0,
        max_delay_s: float = 300.0,
        start_timeout_s: float = 60.0,
        first_wait_s: float = 1.5,
        cleanup_timeout_s: float = 10.0,
    ) -> None:
        self.adapter = adapter
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.start_timeout_s = start_timeout_s
        self.first_wait_s = first_wait_s
        self.cleanup_timeout_s = cleanup_timeout_s
        self.running = False
        self.last_error: str | None = None
        self.attempts = 0
        self._cleanups: set[asyncio.Future[None]] = set()  # held until done (the loop keeps only weak references)
        self._retry: asyncio.Task[None] | None = None

    @property
    def connecting(self) -> bool:
        """The first attempt is still under way (in the background)."""
        return not self.running and self.last_error is None and self._retry is not None

    async def start(self) -> None:
        """Try once now (waiting at most ``first_wait_s``); on failure keep trying in the background (never raises)."""
        first = asyncio.create_task(self._attempt(), name=f"{self.adapter.adapter_id}-start")
        done, _ = await asyncio.wait({first}, timeout=self.first_wait_s)
        if first in done and first.result():
            return
        self._retry = asyncio.create_task(self._retry_loop(first), name=f"{self.adapter.adapter_id}-retry")

    async def _attempt(self) -> bool:
        self.attempts += 1
        try:
            await asyncio.wait_for(self.adapter.start(), self.start_timeout_s)
        except asyncio.CancelledError:
            # stopped while connecting: release what the attempt opened (HTTP sessions) before going, but
            # never wait for ever (a connection that never comes must not hold up the bot's stop)
            cleanup = asyncio.ensure_future(self.adapter.stop())
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanup_done)
            done, _ = await asyncio.wait({cleanup}, timeout=self.cleanup_timeout_s)
            if not done:
                log.warning(
                    "%s: releasing a cancelled start takes more than %g s; stopping without waiting for it",
                    self.adapter.adapter_id,
                    self.cleanup_timeout_s,
                )
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is retried
            self.last_error = describe(exc) if not isinstance(exc, TimeoutError) else f"no connection within {self.start_timeout_s:.0f} s"
            try:
                await self.adapter.stop()  # release what the failed attempt opened
            except Exception:  # noqa: BLE001
                log.debug("cleanup after a failed start of %s failed", self.adapter.adapter_id, exc_info=True)
            return False
        self.running = True
        self.last_error = None
        if self.attempts > 1:
            log.info("%s connected after %d attempts", self.adapter.adapter_id, self.attempts)
        return True

    def _cleanup_done(self, cleanup: asyncio.Future[None]) -> None:
        self._cleanups.discard(cleanup)
        if not cleanup.cancelled() and cleanup.exception() is not None:
            log.debug("cleanup after a cancelled start of %s failed", self.adapter.adapter_id, exc_info=cleanup.exception())

    async def _retry_loop(self, first: asyncio.Task[bool]) -> None:
        if await first:  # the first attempt went on past first_wait_s, and worked
            log.info("%s connected", self.adapter.adapter_id)
            return
        # the logged delay is the step; the sleep spreads it by ±10% so many bots do not retry in step
        backoff = Backoff(BackoffPolicy(base_s=self.first_delay_s, cap_s=self.max_delay_s, jitter="none"))
        while True:
            # Stopped just as an attempt failed: Python 3.11's wait_for hands back the failure and loses the
            # cancel, so without this the loop would retry for ever and stop() would wait for ever.
            raise_if_cancelled()
            delay = backoff.next()
            log.error("%s could not start: %s; retrying in %g s", self.adapter.adapter_id, self.last_error, round(delay, 1))
            await asyncio.sleep(delay * random.uniform(0.9, 1.1))
            if await self._attempt():
                return

    async def stop(self) -> None:
        await cancel_and_wait(self._retry)
        self._retry = None
        if self.running:
            self.running = False
            await self.adapter.stop()

    async def drain(self) -> None:
        """Deliver what is queued for the adapter (only when it is running)."""
        if self.running:
            await self.adapter.drain()
