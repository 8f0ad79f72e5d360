"""Pipeline benchmark: throughput and added latency through bus + pipeline.

Run: ``python bench/pipeline.py [--messages N]``

For the instant (echo) engine and the retrieval engine, with in-memory and SQLite
stores, with 1 chat (one message at a time: pure added latency) and 1,000 chats
(all messages published at once: throughput; latency then includes queueing).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stats import peak_rss_mb, summary_ms
from core.bus import InProcessBus
from core.engine import DialogueEngine, Persona
from core.engines.chain import EngineChain
from core.engines.echo import EchoEngine
from core.engines.retrieval import RetrievalEngine
from core.model import Addressed, Author, Chat, ChatKind, IncomingMessage, ReplyDone
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits, PipelineSettings
from core.stores.memory import (
    MemoryConversationStore,
    MemoryDedupeStore,
    MemoryRateCounter,
    MemorySettingsStore,
)
from core.stores.sqlite import (
    SqliteConversationStore,
    SqliteDatabase,
    SqliteDedupeStore,
    SqliteSettingsStore,
)

PROMPTS = ["hello", "how are you?", "what is your name", "tell me a joke", "do you like music", "你好"]


async def run_case(engine: DialogueEngine, store: str, chats: int, messages: int) -> str:
    bus = InProcessBus()
    tmp = tempfile.TemporaryDirectory()
    if store == "sqlite":
        db = SqliteDatabase(Path(tmp.name) / "b.sqlite3")
        conv, settings, dedupe = SqliteConversationStore(db), SqliteSettingsStore(db), SqliteDedupeStore(db)
        resources = [conv, settings, dedupe]
    else:
        conv, settings, dedupe = MemoryConversationStore(), MemorySettingsStore(), MemoryDedupeStore()
        resources = []
    chain = EngineChain([engine])
    services = BotServices(
        "bench", Persona(), chain, conv, settings, dedupe, MemoryRateCounter(),
        config=PipelineSettings(flood=FloodLimits(0, 0, 1)),
    )
    pipeline = Pipeline(services, bus, max_in_flight=4096)
    for r in resources:
        await r.start()
    await chain.start()
    await bus.start()
    await pipeline.start()
    sent: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    waiting = [0]
    one = asyncio.Event()

    async def consume() -> None:
        async for event in bus.outgoing("bench"):
            if isinstance(event, ReplyDone) and event.target.in_reply_to:
                latencies.append(time.perf_counter() - sent[event.target.in_reply_to.message_id])
                waiting[0] -= 1
                one.set()
                if waiting[0] == 0:
                    done.set()

    consumer = asyncio.create_task(consume())

    def make(i: int) -> IncomingMessage:
        chat = f"c{i % chats}"
        return IncomingMessage(
            "bench", "bench", Chat(chat, ChatKind.PRIVATE), Author(f"u{i % chats}", "U"), str(i),
            PROMPTS[i % len(PROMPTS)], addressed=Addressed.PRIVATE,
        )

    # warm-up
    for i in range(50):
        waiting[0] = 1
        one.clear()
        sent[f"w{i}"] = time.perf_counter()
        m = make(i)
        await bus.publish(IncomingMessage(m.platform, m.origin, m.chat, m.author, f"w{i}", m.text, addressed=m.addressed))
        await one.wait()
    latencies.clear()
    done.clear()
    gc.collect()
    started = time.perf_counter()
    if chats == 1:
        for i in range(messages):
            waiting[0] = 1
            one.clear()
            sent[str(i)] = time.perf_counter()
            await bus.publish(make(i))
            await one.wait()
    else:
        waiting[0] = messages
        batch = [make(i) for i in range(messages)]
        for m in batch:
            sent[m.message_id] = time.perf_counter()
            await bus.publish(m)
        await done.wait()
    elapsed = time.perf_counter() - started
    await pipeline.stop()
    await bus.stop()
    await consumer
    await chain.stop()
    for r in resources:
        await r.stop()
    tmp.cleanup()
    rate = messages / elapsed
    return f"{engine.name:9} {store:6} chats={chats:<5} {rate:9,.0f} msg/s  {summary_ms(latencies)}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    retrieval = RetrievalEngine()
    await retrieval.start()
    print(f"pipeline benchmark: {args.messages} messages per case, Python {sys.version.split()[0]}")
    for engine in (EchoEngine(), retrieval):
        for store in ("memory", "sqlite"):
            for chats in (1, 1000):
                n = args.messages if store == "memory" else max(1000, args.messages // 5)
                print(await run_case(engine, store, chats, n), flush=True)
    print(f"peak RSS: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
