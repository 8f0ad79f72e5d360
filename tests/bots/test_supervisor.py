"""An adapter that cannot connect is retried in the background and never takes the bot down."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bots.supervisor import AdapterSupervisor
from core.adapter import Adapter
from core.bus import InProcessBus
from core.model import OutgoingEvent
from tests.late_cancel import ends_within, started_within, stop_as_a_subtask_ends


class FlakyAdapter(Adapter):
    """Refuses to connect ``failures`` times, then connects."""

    platform = "flaky"

    def __init__(self, failures: int) -> None:
        super().__init__("bot.flaky", InProcessBus())
        self.failures = failures
        self.connects = 0
        self.disconnects = 0

    async def connect(self) -> None:
        self.connects += 1
        if self.connects <= self.failures:
            raise ConnectionError("platform unreachable")

    async def disconnect(self) -> None:
        self.disconnects += 1

    async def deliver(self, event: OutgoingEvent) -> None:
        return None


async def test_failed_start_is_logged_once_per_try_and_retried_until_connected(caplog: pytest.LogCaptureFixture) -> None:
    adapter = FlakyAdapter(failures=2)
    supervisor = AdapterSupervisor(adapter, first_delay_s=0.05, max_delay_s=0.1)
    with caplog.at_level(logging.ERROR):
        await supervisor.start()  # never raises
        assert not supervisor.running
        assert supervisor.last_error == "ConnectionError: platform unreachable"
        async with asyncio.timeout(30):  # about 0.2 s; bounded generously for a loaded CI box
            while not supervisor.running:
                await asyncio.sleep(0.02)
    assert supervisor.running and adapter.connects == 3
    assert adapter.disconnects == 2  # each failed attempt was cleaned up
    lines = [r.getMessage() for r in caplog.records if "could not start" in r.getMessage()]
    assert len(lines) == 2 and "retrying in" in lines[0] and "Traceback" not in lines[0]
    await supervisor.stop()
    assert adapter.disconnects == 3


async def test_stop_cancels_pending_retries() -> None:
    adapter = FlakyAdapter(failures=1000)
    supervisor = AdapterSupervisor(adapter, first_delay_s=10)
    await supervisor.start()
    await asyncio.wait_for(supervisor.stop(), 1)
    assert adapter.connects == 1


async def test_slow_start_counts_as_failure() -> None:
    class Hanging(FlakyAdapter):
        async def connect(self) -> None:
            await asyncio.Event().wait()

    supervisor = AdapterSupervisor(Hanging(0), first_delay_s=10, start_timeout_s=0.1)
    await supervisor.start()
    assert supervisor.last_error is not None and supervisor.last_error.startswith("no connection within")
    await supervisor.stop()


async def test_stop_landing_as_a_start_attempt_fails_ends_the_retries() -> None:
    """Regression (the Telegram login test hung under load): Python 3.11's wait_for lost the cancel of a stop
    that landed as a failed attempt ended, so the supervisor retried for ever and stop() never returned."""
    adapter = FlakyAdapter(failures=1000)
    supervisor = AdapterSupervisor(adapter, first_delay_s=0.05, max_delay_s=0.05, first_wait_s=0.05)
    await supervisor.start()
    try:
        with stop_as_a_subtask_ends("bot.flaky-retry", supervisor.stop) as started:
            stopping = await started_within(started)
        ended = await ends_within(stopping)
    finally:
        if supervisor._retry is not None:
            supervisor._retry.cancel()  # a retry loop that went on (old code) ends here: the test fails, not hangs
    assert ended, "stop() waited for a retry loop that lost its cancellation"
    connects = adapter.connects
    await asyncio.sleep(0.3)
    assert adapter.connects == connects, "no attempt after the stop"


async def test_stop_while_connecting_does_not_wait_for_ever_for_a_hanging_cleanup(caplog: pytest.LogCaptureFixture) -> None:
    class NeverConnectsNorCloses(FlakyAdapter):
        async def connect(self) -> None:
            await asyncio.Event().wait()  # a connection that never comes

        async def disconnect(self) -> None:
            self.disconnects += 1
            await asyncio.Event().wait()  # waits on that connection too

    adapter = NeverConnectsNorCloses(0)
    supervisor = AdapterSupervisor(adapter, first_wait_s=0.05, cleanup_timeout_s=0.2)
    await supervisor.start()
    assert supervisor.connecting
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(supervisor.stop(), 10)
    assert adapter.disconnects == 1, "the cleanup was started"
    assert any("releasing a cancelled start takes more than 0.2 s" in r.getMessage() for r in caplog.records)
