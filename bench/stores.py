"""The stores' share of a message: CPU per message of the store calls the pipeline makes, memory against Redis.

Run: ``python bench/stores.py [--messages N] [--chats C] [--repeats R]``

Each of ``C`` chats (default 128) runs its messages one after another, as the pipeline does, and the
chats run at once, so the Redis calls of many messages share round trips as they do in a worker. A
message makes the calls of :meth:`core.pipeline.pipeline.Pipeline._answer` on an echo bot: the
dedupe claim, the history and facts read ahead beside it, then the reply's history write. The read-ahead is
measured two ways in the same run:

* ``futures``: what the pipeline does (:meth:`ConversationStore.read_recent` and
  :meth:`SettingsStore.read` of each store: a future the store resolves, no task);
* ``tasks``: the contract's default, a task per read (what the pipeline did before, and what a
  store without its own ``read_recent`` gets).

Reported: CPU microseconds per message of this process (the client side; redis-server runs in its own
process on a private port), median of ``R`` alternating runs, and Redis round trips per message.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bots.config import StorageConfig  # noqa: E402
from bots.stores import Stores, build_stores  # noqa: E402
from core import eventloop, gctune  # noqa: E402
from core.distributed.redis_stores import RedisConversationStore  # noqa: E402
from core.memory import ChatMemory, known_facts  # noqa: E402
from core.model import Turn  # noqa: E402
from core.stores.base import ConversationStore, SettingsStore  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

HISTORY_TURNS = 20
Reads = tuple[asyncio.Future[list[Turn]], asyncio.Future[dict[str, Any]]]
"""A message's history and facts, being read."""
ReadAhead = Callable[[Stores, ChatMemory, str], Reads]


def with_futures(stores: Stores, memory: ChatMemory, chat: str) -> Reads:
    """What the pipeline does: each store's own read-ahead."""
    return stores.conversations.read_recent(chat, HISTORY_TURNS), memory.read_stored(chat)


def with_tasks(stores: Stores, memory: ChatMemory, chat: str) -> Reads:
    """The contract's default: a task per read."""
    return ConversationStore.read_recent(stores.conversations, chat, HISTORY_TURNS), SettingsStore.read(stores.settings, f"facts:{chat}")


async def one_message(stores: Stores, memory: ChatMemory, read_ahead: ReadAhead, i: int, chat: str) -> None:
    """The store calls of one echo message: history and facts read ahead beside the claim, then the reply's history."""
    history, facts = read_ahead(stores, memory, chat)
    await stores.dedupe.claim(f"bench:{chat}:{i}", 3600)
    await history
    known_facts(await facts)
    await stores.conversations.appending(chat, Turn("user", f"hello {i}", at=1.0, author="U"), Turn("bot", f"hello {i}", at=1.0)).run()


async def run_case(kind: str, url: str, read_ahead: ReadAhead, messages: int, chats: int, tag: str) -> tuple[float, float]:
    """CPU µs per message of this process, and Redis round trips per message (0 for memory)."""
    stores = build_stores(StorageConfig(kind=kind, url=url, namespace=tag), ROOT, HISTORY_TURNS)
    for resource in stores.resources:
        await resource.start()
    memory = ChatMemory(stores.settings)
    counter = itertools.count()
    connection = stores.conversations.connection if isinstance(stores.conversations, RedisConversationStore) else None

    async def chat_loop(c: int) -> None:
        while (i := next(counter)) < messages:
            await one_message(stores, memory, read_ahead, i, f"bench:c{c}")

    try:
        await asyncio.gather(*(chat_loop(c) for c in range(chats)))  # warm-up: every chat has history
        counter = itertools.count()
        trips = connection.round_trips if connection is not None else 0
        started = time.process_time()
        await asyncio.gather(*(chat_loop(c) for c in range(chats)))
        cpu_us = (time.process_time() - started) / messages * 1e6
        trips = (connection.round_trips - trips) if connection is not None else 0
        return cpu_us, trips / messages
    finally:
        for resource in stores.resources:
            await resource.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--chats", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases: dict[str, tuple[str, ReadAhead]] = {
        "memory, futures": ("memory", with_futures),
        "memory, tasks": ("memory", with_tasks),
        "redis, futures": ("redis", with_futures),
        "redis, tasks": ("redis", with_tasks),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as directory:
        redis = RedisServer(Path(directory), persistent=False)
        redis.start()
        try:
            tags = (f"bench-stores-{n}" for n in itertools.count())
            for _ in range(args.repeats):
                for name, (kind, read_ahead) in cases.items():
                    results[name].append(await run_case(kind, redis.url, read_ahead, args.messages, args.chats, next(tags)))
        finally:
            redis.stop()
    print(
        f"store calls of one echo message (claim, history and facts read ahead, history write), {args.chats} chats at once, "
        f"{args.messages:,} messages, medians of {args.repeats} alternating runs; event loop: {eventloop.loop_name()}"
    )
    print(f"{'case':18} {'CPU us/msg':>11} {'range':>15} {'round trips/msg':>16}")
    for name, runs in results.items():
        cpu = [r[0] for r in runs]
        print(f"{name:18} {statistics.median(cpu):11.1f} {min(cpu):7.1f}-{max(cpu):<7.1f} {statistics.median(r[1] for r in runs):16.3f}")
    redis_cost = {way: statistics.median(r[0] for r in results[f"redis, {way}"]) - statistics.median(r[0] for r in results[f"memory, {way}"]) for way in ("futures", "tasks")}
    print(f"redis over memory, per message: {redis_cost['futures']:.1f} us with futures, {redis_cost['tasks']:.1f} us with tasks")


if __name__ == "__main__":
    gctune.tune_for_service()  # as run.py does
    eventloop.run(main())
