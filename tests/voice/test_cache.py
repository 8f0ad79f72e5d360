"""Memory LRU and disk cache bounds and keys."""

from __future__ import annotations

from voice.cache import AudioCache, DiskCache, MemoryLru, cache_key


def test_key_depends_on_engine_voice_rate_and_normalized_text() -> None:
    base = cache_key("note", "piper", "joe", 1.0, "Hello  world.")
    assert base == cache_key("note", "piper", "joe", 1.0, " Hello world. ")
    assert (
        len(
            {
                base,
                cache_key("note", "edge", "joe", 1.0, "Hello world."),
                cache_key("note", "piper", "amy", 1.0, "Hello world."),
                cache_key("note", "piper", "joe", 1.2, "Hello world."),
                cache_key("pcm", "piper", "joe", 1.0, "Hello world."),
            }
        )
        == 5
    )


def test_memory_lru_is_bounded_and_evicts_least_recent() -> None:
    lru = MemoryLru(max_bytes=30)
    lru.put("a", b"x" * 10)
    lru.put("b", b"x" * 10)
    lru.put("c", b"x" * 10)
    assert lru.get("a") is not None  # a is now most recent
    lru.put("d", b"x" * 10)
    assert lru.get("b") is None and lru.get("a") and lru.get("c") and lru.get("d")
    assert lru.size == 30
    lru.put("huge", b"x" * 31)
    assert lru.get("huge") is None


def test_disk_cache_is_bounded(tmp_path) -> None:
    disk = DiskCache(tmp_path, max_bytes=1000)
    disk.open()
    for i in range(30):
        disk.put(f"k{i:02d}", bytes(100))
    total = sum(p.stat().st_size for p in tmp_path.glob("*.bin"))
    assert total <= 1000
    assert disk.get("k29") == bytes(100) and disk.get("k00") is None


async def test_disk_entries_survive_a_restart(tmp_path) -> None:
    first = AudioCache(1_000, tmp_path, 10_000)
    await first.start()
    await first.put("key", b"audio")
    second = AudioCache(1_000, tmp_path, 10_000)
    await second.start()
    assert await second.get("key") == b"audio"
    assert second.memory.get("key") == b"audio"  # promoted to memory
    assert await second.get("missing") is None and second.misses == 1
