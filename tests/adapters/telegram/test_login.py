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
        while supervisor.attempts < 4:
            await asyncio.sleep(0.05)
        await supervisor.stop()
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
