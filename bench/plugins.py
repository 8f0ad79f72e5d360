"""Plugin benchmark: what the plugin machinery costs per message, and how long loading plugins takes.

Run: ``python bench/plugins.py [--messages N]``

One chat, one message at a time (pure added latency), in-memory stores, the echo engine, through the
pipeline a bot gets from ``bots.runtime.plugin_middlewares``: with only the built-ins, and with 10
plugins that each add a middleware, a command and a non-matching message handler (the worst case: every
message passes every middleware and every pattern). Then: ``parse_config`` of a config loading the four
example plugins (import + settings validation), and the same config without plugins.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import summary_ms
from bots.config import parse_config
from bots.plugin import Context, Handler, Plugin
from bots.registry import Registry
from bots.runtime import plugin_middlewares
from core.bus import InProcessBus
from core.engine import Persona
from core.engines.chain import EngineChain
from core.engines.echo import EchoEngine
from core.model import Addressed, Author, Chat, ChatKind, IncomingMessage, ReplyDone
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "plugins"


def busy_plugin(i: int) -> Plugin:
    plugin = Plugin(f"bench{i}")

    @plugin.middleware
    async def mark(handler: Handler, ctx: Context) -> None:
        ctx.state[f"bench{i}"] = True
        await handler(ctx)

    @plugin.command(f"cmd{i}", "a command")
    async def cmd(ctx: Context, n: int = 1) -> None:
        await ctx.reply(str(n))

    @plugin.on_message(pattern=rf"\bneverword{i}\b")
    async def never(ctx: Context) -> None:
        await ctx.reply("never")

    return plugin


async def run_case(plugins: list[Plugin], messages: int) -> list[float]:
    bus = InProcessBus()
    services = BotServices(
        "bench", Persona(), EngineChain([EchoEngine()]), MemoryConversationStore(), MemorySettingsStore(),
        MemoryDedupeStore(), MemoryRateCounter(), config=PipelineSettings(flood=FloodLimits(0, 0, 1)),
    )
    pipeline = Pipeline(services, bus, plugin_middlewares(plugins))
    await bus.start()
    await pipeline.start()
    answered: dict[str, asyncio.Future[None]] = {}

    async def collect() -> None:
        async for event in bus.outgoing("bench"):
            if isinstance(event, ReplyDone):
                future = answered.get(event.target.in_reply_to.message_id if event.target.in_reply_to else "")
                if future is not None and not future.done():
                    future.set_result(None)

    collector = asyncio.create_task(collect())
    latencies = []
    for i in range(messages):
        mid = str(i)
        answered[mid] = asyncio.get_running_loop().create_future()
        message = IncomingMessage(
            platform="bench", origin="bench", chat=Chat("c", ChatKind.PRIVATE), author=Author("u", "U"),
            message_id=mid, text=f"hello number {i}", addressed=Addressed.PRIVATE,
        )
        started = time.perf_counter()
        await bus.publish(message)
        await answered[mid]
        del answered[mid]
        latencies.append(time.perf_counter() - started)
    collector.cancel()
    await pipeline.stop()
    await bus.stop()
    return latencies[len(latencies) // 10 :]  # without the warm-up


def load_time(with_plugins: bool, runs: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        raw: dict[str, object] = {"bots": [{"name": "b", "engines": [{"kind": "echo"}]}], "voice": {"enabled": False}}
        if with_plugins:
            raw["plugin_dirs"] = [str(EXAMPLES)]
        for _ in range(runs):
            for name in [m for m in sys.modules if m.startswith("voicebots_plugin_dirs.")]:
                del sys.modules[name]  # import them again each time
            started = time.perf_counter()
            parse_config(raw, str(Path(tmp) / "config.yaml"))
            times.append(time.perf_counter() - started)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    builtins = Registry.with_builtins().plugins
    with_ten = builtins + [busy_plugin(i) for i in range(10)]
    for label, plugins in (("built-ins only", builtins), ("built-ins + 10 plugins", with_ten)):
        latencies = await run_case(plugins, args.messages)
        throughput = len(latencies) / sum(latencies)
        print(f"pipeline, {label:24} {summary_ms(latencies)}  {throughput:,.0f} msg/s (one at a time)")
    for label, flag in (("no plugins", False), ("4 example plugins", True)):
        print(f"parse_config, {label:20} {summary_ms(load_time(flag, 20))}")


if __name__ == "__main__":
    asyncio.run(main())
