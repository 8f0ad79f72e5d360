"""An adapter that cannot connect is retried in the background and never takes the bot down."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bots.supervisor import AdapterSupervisor
from core.adapter import Adapter
from core.bus import InProcessBus
from core.model import OutgoingEvent


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
        for _ in range(100):
            if supervisor.running:
                break
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
