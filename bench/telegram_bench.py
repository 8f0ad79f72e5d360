"""Telegram adapter benchmark: ours vs bare python-telegram-bot and aiogram 3 echo bots, one fake Bot API server.

Every bot runs as its own process and long-polls the same fake server (tests/adapters/telegram/fake_bot_api.py,
in this process), one bot after the other in one run:

* ``ptb``: bare python-telegram-bot ``Application`` with its defaults (updates handled in sequence);
* ``ptb-concurrent``: the same with ``concurrent_updates(True)``;
* ``aiogram``: an aiogram 3 echo bot (bench/aiogram_echo.py, its own venv: ``--aiogram-python``);
* ``ours``: the whole stack (bus, pipeline with dedupe, flood control and memory on, EchoEngine,
  TelegramAdapter) with Telegram's rate limits relaxed so every bot faces the same server.

Figures per bot: CPU ms per message of the bot's process (psutil: user + system over the burst, so the
shared machine's load does not distort it as it does wall time), messages/s of a burst of ``--burst``
messages over ``--chats`` private chats, and reply latency p50/p99 of ``--paced`` messages at ``--rate``/s.

Run: ``.venv/bin/python bench/telegram_bench.py [--aiogram-python PATH]`` (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.config import TelegramConfig
from bench.stats import percentile
from core.bus import InProcessBus
from core.engine import Persona
from core.engines.echo import EchoEngine
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore
from tests.adapters.telegram.fake_bot_api import TOKEN, FakeBotApi

HERE = Path(__file__).resolve()


class Bare:
    """A bare python-telegram-bot echo bot: Application defaults, or ``concurrent_updates(True)``."""

    def __init__(self, base_url: str, base_file_url: str, concurrent: bool) -> None:
        builder = Application.builder().token(TOKEN).base_url(base_url).base_file_url(base_file_url)
        if concurrent:
            builder = builder.concurrent_updates(True)
        self.app = builder.build()

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
    """The framework's whole stack with the Telegram adapter (flood control on, with limits no burst reaches)."""

    def __init__(self, base_url: str, base_file_url: str, pool: int | None) -> None:
        self.bus = InProcessBus()
        services = BotServices(
            "bench", Persona(), EchoEngine(), MemoryConversationStore(), MemorySettingsStore(),
            MemoryDedupeStore(), MemoryRateCounter(),
            config=PipelineSettings(flood=FloodLimits(per_user=100_000, per_chat=100_000)),
        )
        self.pipeline = Pipeline(services, self.bus)
        data: dict[str, Any] = {
            "token": TOKEN, "base_url": base_url, "base_file_url": base_file_url, "poll_timeout_s": 1,
            "rate_limits": {"per_chat": 0, "per_group": 0, "overall": 0},
        }
        if pool is not None:
            data.update(connection_pool_size=pool, max_concurrent_sends=pool)
        self.adapter = TelegramAdapter("bench-tg", self.bus, TelegramConfig.model_validate(data))

    async def start(self) -> None:
        await self.bus.start()
        await self.pipeline.start()
        await self.adapter.start()

    async def stop(self) -> None:
        await self.pipeline.idle()
        await self.adapter.stop()
        await self.pipeline.stop()
        await self.bus.stop()


async def child(kind: str, base_url: str, base_file_url: str, pool: int | None, no_sniffio: bool, httpx: bool) -> None:
    """Run one bot (``ours``, ``ptb``, ``ptb-concurrent``) until SIGTERM; prints ``ready`` once polling.

    ``httpx`` (comparison only): our adapter on PTB's HTTPXRequest, as before issue 15.
    """
    if no_sniffio:
        sys.modules["sniffio"] = None  # type: ignore[assignment]  # as if not installed: every import fails
    if httpx:
        from telegram.request import HTTPXRequest

        import adapters.telegram.adapter as adapter_module

        adapter_module.AiohttpRequest = HTTPXRequest  # type: ignore[misc,assignment]
    bot: Ours | Bare = Ours(base_url, base_file_url, pool) if kind == "ours" else Bare(base_url, base_file_url, kind == "ptb-concurrent")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await bot.start()
    print("ready", flush=True)
    await stop.wait()
    await bot.stop()


@dataclass(frozen=True)
class Contender:
    """One bot process to measure."""

    name: str
    argv: list[str]


@dataclass(frozen=True)
class Result:
    """One bot's figures."""

    cpu_ms: float
    throughput: float
    p50: float
    p99: float


def _replies(api: FakeBotApi, since: int, prefix: str) -> dict[str, float]:
    return {
        c.params["text"]: c.at
        for c in api.calls[since:]
        if c.method == "sendMessage" and c.status == 200 and str(c.params.get("text", "")).startswith(prefix)
    }


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def measure(api: FakeBotApi, contender: Contender, burst: int, chats: int, paced: int, rate: float) -> Result:
    """Start the bot's process, warm it up, then the burst (CPU and msgs/s) and the paced run (latency)."""
    proc = await asyncio.create_subprocess_exec(*contender.argv, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        if line.strip() != b"ready":
            raise RuntimeError(f"{contender.name} did not start (exit {proc.returncode})")
        process = psutil.Process(proc.pid)
        tag = f"{contender.name}-{time.monotonic_ns()}"
        mark = len(api.calls)
        for i in range(50):
            api.inject_message(100 + i % chats, f"{tag}-w-{i}")
        await api.wait_for(lambda: len(_replies(api, mark, f"{tag}-w-")) >= 50, timeout=120)
        # throughput and CPU: one burst
        mark = len(api.calls)
        cpu_before = _cpu_s(process)
        first = time.monotonic()
        for i in range(burst):
            api.inject_message(100 + i % chats, f"{tag}-b-{i}")
        await api.wait_for(lambda: len(_replies(api, mark, f"{tag}-b-")) >= burst, timeout=600)
        cpu = _cpu_s(process) - cpu_before
        throughput = burst / (max(_replies(api, mark, f"{tag}-b-").values()) - first)
        # latency: a steady rate
        mark = len(api.calls)
        sent: dict[str, float] = {}
        for i in range(paced):
            text = f"{tag}-p-{i}"
            sent[text] = time.monotonic()
            api.inject_message(100 + i % chats, text)
            await asyncio.sleep(1 / rate)
        await api.wait_for(lambda: len(_replies(api, mark, f"{tag}-p-")) >= paced, timeout=120)
        got = _replies(api, mark, f"{tag}-p-")
        lat = [(got[t] - sent[t]) * 1000 for t in sent]
        return Result(cpu * 1000 / burst, throughput, percentile(lat, 50), percentile(lat, 99))
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def contenders(args: argparse.Namespace, api: FakeBotApi) -> list[Contender]:
    me = [sys.executable, str(HERE), "--child"]
    urls = ["--base-url", api.base_url, "--base-file-url", api.base_file_url]
    out = [
        Contender("ptb", [*me, "ptb", *urls]),
        Contender("ptb-concurrent", [*me, "ptb-concurrent", *urls]),
        Contender("ours", [*me, "ours", *urls]),
    ]
    if args.compare:
        out.append(Contender("ours-httpx", [*me, "ours", *urls, "--httpx"]))
        out.append(Contender("ours-before", [*me, "ours", *urls, "--httpx", "--pool", "64", "--no-sniffio"]))
    aiogram = args.aiogram_python or os.environ.get("AIOGRAM_PYTHON", "")
    if aiogram:
        out.insert(2, Contender("aiogram", [aiogram, str(HERE.parent / "aiogram_echo.py"), f"http://127.0.0.1:{api.port}", TOKEN]))
    else:
        print("aiogram: no --aiogram-python given (see bench/requirements-aiogram.txt); left out")
    if args.only:
        out = [c for c in out if c.name in args.only.split(",")]
    return out


async def main(args: argparse.Namespace) -> None:
    results: dict[str, Result] = {}
    async with FakeBotApi() as api:
        for contender in contenders(args, api):
            results[contender.name] = await measure(api, contender, args.burst, args.chats, args.paced, args.rate)
            r = results[contender.name]
            print(f"  {contender.name}: {r.cpu_ms:.2f} CPU ms/msg, {r.throughput:.1f} msgs/s", flush=True)
    print(f"fake Bot API server on 127.0.0.1, burst {args.burst} msgs over {args.chats} private chats, "
          f"paced {args.paced} at {args.rate:g}/s; each bot its own process, CPU = user + system of that process")
    print(f"{'':16}{'CPU ms/msg':>12}{'msgs/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, r in results.items():
        print(f"{name:16}{r.cpu_ms:12.2f}{r.throughput:10.1f}{r.p50:10.2f}{r.p99:10.2f}")
    if "ours" in results and "aiogram" in results:
        ratio = results["ours"].cpu_ms / results["aiogram"].cpu_ms
        print(f"CPU per message ours/aiogram: {ratio:.2f} (target <= 1.3)")
    if "ours" in results and "ptb" in results:
        print(f"CPU per message ours/bare PTB: {results['ours'].cpu_ms / results['ptb'].cpu_ms:.2f}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--paced", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--aiogram-python", default="", help="the interpreter of a venv with aiogram (or $AIOGRAM_PYTHON)")
    parser.add_argument("--only", default="", help="comma-separated bots to run (ptb, ptb-concurrent, aiogram, ours, ours-httpx, ours-before)")
    parser.add_argument("--compare", action="store_true",
                        help="also run ours on httpx (pool 8) and as before issue 15 (httpx, pool 64, sniffio not importable)")
    parser.add_argument("--child", choices=["ours", "ptb", "ptb-concurrent"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--base-file-url", help=argparse.SUPPRESS)
    parser.add_argument("--pool", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-sniffio", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--httpx", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    arguments = parse()
    if arguments.child:
        run = child(arguments.child, arguments.base_url, arguments.base_file_url, arguments.pool, arguments.no_sniffio, arguments.httpx)
        if os.environ.get("BENCH_PROFILE"):  # a cProfile of the bot process, written at exit
            import cProfile

            cProfile.run("asyncio.run(run)", os.environ["BENCH_PROFILE"] + f".{arguments.child}")
        else:
            asyncio.run(run)
    else:
        asyncio.run(main(arguments))
