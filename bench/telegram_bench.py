"""Telegram adapter benchmark: ours vs a bare python-telegram-bot echo bot, same fake Bot API server.

Both bots long-poll the fake server from tests/adapters/telegram/fake_bot_api.py in the
same run. Our bot is the whole stack (bus, pipeline with EchoEngine, TelegramAdapter)
with its rate limiter relaxed so both face the same server. Figures:

* throughput: a burst of ``--burst`` messages over ``--chats`` chats, messages per second
  from the first injection to the last reply;
* latency: ``--paced`` messages at ``--rate`` per second, injection to reply arrival, p50/p99.

Run: ``.venv/bin/python bench/telegram_bench.py`` (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update  # noqa: E402
from telegram.ext import Application, ContextTypes, MessageHandler, filters  # noqa: E402

from adapters.telegram.adapter import TelegramAdapter  # noqa: E402
from adapters.telegram.config import TelegramConfig  # noqa: E402
from bench.stats import percentile  # noqa: E402
from core.bus import InProcessBus  # noqa: E402
from core.engine import Persona  # noqa: E402
from core.engines.echo import EchoEngine  # noqa: E402
from core.pipeline.context import BotServices  # noqa: E402
from core.pipeline.pipeline import Pipeline  # noqa: E402
from core.pipeline.settings import FloodLimits, PipelineSettings  # noqa: E402
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore  # noqa: E402
from tests.adapters.telegram.fake_bot_api import TOKEN, FakeBotApi  # noqa: E402


class Bare:
    """A bare python-telegram-bot echo bot (Application, concurrent updates)."""

    def __init__(self, api: FakeBotApi) -> None:
        self.app = (
            Application.builder()
            .token(TOKEN)
            .base_url(api.base_url)
            .base_file_url(api.base_file_url)
            .connection_pool_size(64)
            .concurrent_updates(256)
            .build()
        )

        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.message is not None
            await update.message.reply_text(update.message.text or "")

        self.app.add_handler(MessageHandler(filters.TEXT, echo))

    async def start(self) -> None:
        await self.app.initialize()
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0.0, timeout=1)

    async def stop(self) -> None:
        assert self.app.updater is not None
        await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()


class Ours:
    """The framework's whole stack with the Telegram adapter."""

    def __init__(self, api: FakeBotApi, journal: Path | None = None) -> None:
        self.bus = InProcessBus()
        services = BotServices(
            "bench", Persona(), EchoEngine(), MemoryConversationStore(), MemorySettingsStore(),
            MemoryDedupeStore(), MemoryRateCounter(),
            config=PipelineSettings(flood=FloodLimits(per_user=0, per_chat=0)),
        )
        self.pipeline = Pipeline(services, self.bus)
        config = TelegramConfig.model_validate({
            "token": TOKEN, "base_url": api.base_url, "base_file_url": api.base_file_url, "poll_timeout_s": 1,
            "rate_limits": {"per_chat": 0, "per_group": 0, "overall": 0},
        })
        self.adapter = TelegramAdapter("bench-tg", self.bus, config, journal_path=journal)

    async def start(self) -> None:
        await self.bus.start()
        await self.pipeline.start()
        await self.adapter.start()

    async def stop(self) -> None:
        await self.pipeline.idle()
        await self.adapter.stop()
        await self.pipeline.stop()
        await self.bus.stop()


def _replies(api: FakeBotApi, since: int) -> dict[str, float]:
    return {c.params["text"]: c.at for c in api.calls[since:] if c.method == "sendMessage" and c.status == 200}


async def _run(api: FakeBotApi, bot: Any, tag: str, burst: int, chats: int, paced: int, rate: float) -> dict[str, float]:
    await bot.start()
    try:
        # warm-up
        mark = len(api.calls)
        for i in range(20):
            api.inject_message(100 + i % chats, f"{tag}-warm-{i}")
        await api.wait_for(lambda: len(_replies(api, mark)) >= 20, timeout=60)
        # throughput: one burst
        mark = len(api.calls)
        sent: dict[str, float] = {}
        for i in range(burst):
            text = f"{tag}-b-{i}"
            sent[text] = time.monotonic()
            api.inject_message(100 + i % chats, text)
        await api.wait_for(lambda: len(_replies(api, mark)) >= burst, timeout=300)
        got = _replies(api, mark)
        throughput = burst / (max(got.values()) - min(sent.values()))
        # latency: a steady rate
        mark = len(api.calls)
        sent = {}
        for i in range(paced):
            text = f"{tag}-p-{i}"
            sent[text] = time.monotonic()
            api.inject_message(100 + i % chats, text)
            await asyncio.sleep(1 / rate)
        await api.wait_for(lambda: len(_replies(api, mark)) >= paced, timeout=120)
        got = _replies(api, mark)
        lat = [(got[t] - sent[t]) * 1000 for t in sent]
        return {"throughput": throughput, "p50": percentile(lat, 50), "p99": percentile(lat, 99)}
    finally:
        await bot.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--paced", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    async with FakeBotApi() as api:
        bare = await _run(api, Bare(api), "bare", args.burst, args.chats, args.paced, args.rate)
        ours = await _run(api, Ours(api), "ours", args.burst, args.chats, args.paced, args.rate)
        with tempfile.TemporaryDirectory() as tmp:  # the crash journal (issue 19), as run.py runs by default
            journaled = await _run(api, Ours(api, Path(tmp) / "journal.sqlite3"), "jour", args.burst, args.chats, args.paced, args.rate)
    print(f"fake Bot API server on 127.0.0.1, burst {args.burst} msgs over {args.chats} chats, paced {args.paced} at {args.rate:g}/s")
    print(f"{'':14}{'msgs/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in (("bare PTB echo", bare), ("ours", ours), ("ours+journal", journaled)):
        print(f"{name:14}{r['throughput']:10.1f}{r['p50']:10.2f}{r['p99']:10.2f}")
    print(f"throughput ratio ours/bare: {ours['throughput'] / bare['throughput']:.2f} (target >= 0.9)")
    print(f"added p99: {ours['p99'] - bare['p99']:+.2f} ms (target <= 2 ms); added p50: {ours['p50'] - bare['p50']:+.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
