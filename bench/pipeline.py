"""Pipeline benchmark: throughput and added latency through bus + pipeline.

Run: ``python bench/pipeline.py [--messages N]``

For the instant (echo) engine and the retrieval engine, with in-memory and SQLite
stores, with 1 chat (one message at a time: pure added latency) and 1,000 chats talking at once
(closed loop: each chat sends its next message when the previous one is answered, so
1,000 messages are in flight; latency then includes waiting behind the others).
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
    pending: dict[str, list[IncomingMessage]] = {}
    remaining = [0]
    done = asyncio.Event()

    def make(i: int, prefix: str) -> IncomingMessage:
        chat = f"c{i % chats}"
        return IncomingMessage(
            "bench", "bench", Chat(chat, ChatKind.PRIVATE), Author(f"u{i % chats}", "U"), f"{prefix}{i}",
            PROMPTS[i % len(PROMPTS)], addressed=Addressed.PRIVATE,
        )

    async def publish(m: IncomingMessage) -> None:
        sent[m.message_id] = time.perf_counter()
        await bus.publish(m)

    async def consume() -> None:
        # closed loop: each chat sends its next message when the previous one is answered
        async for event in bus.outgoing("bench"):
            if isinstance(event, ReplyDone) and event.target.in_reply_to:
                latencies.append(time.perf_counter() - sent[event.target.in_reply_to.message_id])
                remaining[0] -= 1
                queue = pending.get(event.target.chat.id)
                if queue:
                    await publish(queue.pop())
                if remaining[0] == 0:
                    done.set()

    async def drive(count: int, prefix: str) -> None:
        pending.clear()
        for i in reversed(range(count)):
            pending.setdefault(f"c{i % chats}", []).append(make(i, prefix))
        remaining[0] = count
        done.clear()
        for queue in list(pending.values()):
            await publish(queue.pop())
        await done.wait()

    consumer = asyncio.create_task(consume())
    await drive(min(messages, max(50, chats)), "w")  # warm-up
    latencies.clear()
    gc.collect()
    started = time.perf_counter()
    await drive(messages, "m")
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
