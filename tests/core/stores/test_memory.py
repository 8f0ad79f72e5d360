"""In-memory stores."""

from __future__ import annotations

from core.model import Turn
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter


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
