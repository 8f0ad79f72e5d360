"""Start-up against an unreachable or refusing Telegram: one log line per attempt, with the cause and a hint."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.connection import LoginFailed
from bots.supervisor import AdapterSupervisor
from core.bus import InProcessBus
from tests.adapters.telegram.conftest import make_config
from tests.adapters.telegram.fake_bot_api import FakeBotApi
from tests.late_cancel import ends_within, started_within, stop_as_a_subtask_ends


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_telegram_logs_one_line_per_attempt_with_a_network_hint(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeBotApi() as api:
        config = make_config(api, base_url=f"http://127.0.0.1:{_closed_port()}/bot", request_timeout_s=2.0)
    adapter = TelegramAdapter("bot.telegram", InProcessBus(), config)
    supervisor = AdapterSupervisor(adapter, first_delay_s=0.2, max_delay_s=0.4)
    with caplog.at_level(logging.INFO):
        await supervisor.start()
        async with asyncio.timeout(60):  # four refused attempts take about 1 s; bounded under any load
            while supervisor.attempts < 4:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(supervisor.stop(), 30)
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    failures = [r.getMessage() for r in lines if "could not start" in r.getMessage()]
    assert len(failures) >= 3
    assert len(lines) <= supervisor.attempts, [r.getMessage() for r in lines]  # nothing else: one line per attempt
    assert "cannot reach 127.0.0.1" in failures[0] and "check the network" in failures[0] and "HTTPS_PROXY" in failures[0]
    assert "123456:TEST-token" not in "\n".join(failures)
    delays = [float(line.rsplit("retrying in ", 1)[1].split()[0]) for line in failures]
    assert delays[:3] == [0.2, 0.4, 0.4]  # doubling, capped


async def test_a_refused_token_says_so_in_one_error() -> None:
    async with FakeBotApi(token="999:other") as api:
        adapter = TelegramAdapter("bot.telegram", InProcessBus(), make_config(api))
        with pytest.raises(LoginFailed, match="the token was refused .*check the bot token"):
            await adapter.start()
        await adapter.stop()
        assert [c.method for c in api.calls].count("getMe") == 1  # not retried inside: the supervisor retries


async def test_stopping_while_telegram_is_unreachable_ends_even_as_an_attempt_fails() -> None:
    """Regression: the test above hung under load. A stop landing as a refused login attempt ended lost its
    cancel in Python 3.11's wait_for; the supervisor went on retrying and stop() never returned."""
    async with FakeBotApi() as api:
        config = make_config(api, base_url=f"http://127.0.0.1:{_closed_port()}/bot", request_timeout_s=2.0)
    adapter = TelegramAdapter("bot.telegram", InProcessBus(), config)
    supervisor = AdapterSupervisor(adapter, first_delay_s=0.05, max_delay_s=0.05, first_wait_s=0.05)
    await supervisor.start()
    try:
        with stop_as_a_subtask_ends("bot.telegram-retry", supervisor.stop) as started:
            stopping = await started_within(started)
        ended = await ends_within(stopping)
    finally:
        if supervisor._retry is not None:
            supervisor._retry.cancel()  # a retry loop that went on (old code) ends here: the test fails, not hangs
        await adapter.stop()
    assert ended, "stop() waited for a retry loop that lost its cancellation"
    attempts = supervisor.attempts
    await asyncio.sleep(0.3)
    assert supervisor.attempts == attempts, "no login attempt after the stop"
