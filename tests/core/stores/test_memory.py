"""In-memory stores."""

from __future__ import annotations

import asyncio

from core.model import Turn
from core.stores.base import ConversationStore
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore


async def test_memory_history_bounded() -> None:
    store = MemoryConversationStore(max_turns=2)
    await store.append("c", Turn("user", "a"), Turn("bot", "b"), Turn("user", "c"))
    assert [t.text for t in await store.recent("c")] == ["b", "c"]


async def test_dedupe_prunes_when_full_but_keeps_recent() -> None:
    store = MemoryDedupeStore(max_keys=10)
    for i in range(30):
        assert await store.claim(f"k{i}", 60)
    assert not await store.claim("k29", 60)


async def test_rate_counter_counts_per_key() -> None:
    counter = MemoryRateCounter()
    assert [await counter.hit("a", 60) for _ in range(3)] == [1, 2, 3]
    assert await counter.hit("b", 60) == 1


async def test_reads_started_ahead_are_done_at_once_and_show_the_state_then() -> None:
    """Memory reads need no task: the pipeline's read-ahead gets done futures (a snapshot of that moment)."""
    history, settings = MemoryConversationStore(max_turns=3), MemorySettingsStore()
    b = Turn("bot", "b")
    await history.append("c", Turn("user", "a"), b)
    await settings.update("facts:c", {"name": "Ann"})
    turns, stored = history.read_recent("c", 1), settings.read("facts:c")
    assert turns.done() and stored.done()
    assert not isinstance(turns, asyncio.Task) and not isinstance(stored, asyncio.Task)
    await history.append("c", Turn("user", "later"))
    await settings.update("facts:c", {"name": "Bo"})
    assert await turns == [b]
    assert await stored == {"name": "Ann"}


class _PlainHistory(MemoryConversationStore):
    """A store that implements only the abstract methods (as a user's store may)."""

    read_recent = ConversationStore.read_recent  # the contract's default


async def test_a_store_without_its_own_read_ahead_gets_a_task_of_its_recent() -> None:
    store, a = _PlainHistory(), Turn("user", "a")
    await store.append("c", a)
    future = store.read_recent("c")
    assert isinstance(future, asyncio.Task)
    assert await future == [a]
