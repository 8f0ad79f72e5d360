"""Redis stores against a private redis-server: the same state seen from every worker's connection."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator

import pytest

from core.distributed.redis_stores import (
    RedisConnection,
    RedisConversationStore,
    RedisDedupeStore,
    RedisRateCounter,
    RedisSettingsStore,
)
from core.errors import StoreError
from core.model import Turn
from tests.redis_server import RedisServer


@pytest.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[tuple[RedisConnection, RedisConnection]]:
    """Two independent connections, as two worker processes would have."""
    a, b = RedisConnection(redis_server.url, "t"), RedisConnection(redis_server.url, "t")
    await a.acquire()
    await b.acquire()
    yield a, b
    await a.release()
    await b.release()


async def test_history_written_by_one_worker_is_read_by_the_other_and_bounded(two: tuple[RedisConnection, RedisConnection]) -> None:
    w1, w2 = RedisConversationStore(two[0], max_turns=3), RedisConversationStore(two[1], max_turns=3)
    await w1.append("web:c1", Turn("user", "hi", 1.0, "Ann"), Turn("bot", "hello", 2.0, "Bot"))
    await w2.append("web:c1", Turn("user", "how are you", 3.0, "Ann"), Turn("bot", "fine", 4.0, "Bot"))
    assert [t.text for t in await w1.recent("web:c1")] == ["hello", "how are you", "fine"]
    assert (await w2.recent("web:c1", 1))[0] == Turn("bot", "fine", 4.0, "Bot")
    await w2.clear("web:c1")
    assert await w1.recent("web:c1") == []


async def test_history_turns_parsed_once_are_the_same_turns_and_new_ones_are_parsed(
    two: tuple[RedisConnection, RedisConnection],
) -> None:
    """Issue 15: a worker keeps the turns it wrote or read by their stored bytes; the result never differs."""
    w1, w2 = RedisConversationStore(two[0], max_turns=4), RedisConversationStore(two[1], max_turns=4)
    w1.PARSED_LIMIT = 3  # cleared when full: the reads below parse part of the window again
    await w1.append("web:c1", Turn("user", "hi", 1.0, "Ann"), Turn("bot", "hello", 2.0, "Bot"))
    first = await w1.recent("web:c1")  # every turn known: written here
    await w2.append("web:c1", Turn("user", "ça va?", 3.5, "Ann"), Turn("bot", "oui", 4.25, "Bot"))
    mixed = await w1.recent("web:c1")  # two known, two written by the other worker
    again = await w1.recent("web:c1")
    fresh = await RedisConversationStore(two[1], max_turns=4).recent("web:c1")  # nothing known
    expected = [
        Turn("user", "hi", 1.0, "Ann"), Turn("bot", "hello", 2.0, "Bot"),
        Turn("user", "ça va?", 3.5, "Ann"), Turn("bot", "oui", 4.25, "Bot"),
    ]
    assert first == expected[:2]
    assert mixed == again == fresh == expected
    assert len(w1._parsed) <= 3


async def test_settings_merge_and_are_shared(two: tuple[RedisConnection, RedisConnection]) -> None:
    s1, s2 = RedisSettingsStore(two[0]), RedisSettingsStore(two[1])
    assert await s1.get("chat:web:c1") == {}
    await s1.update("chat:web:c1", {"voice": True, "rate": 1.25})
    assert await s2.update("chat:web:c1", {"voice_name": "joe"}) == {"voice": True, "rate": 1.25, "voice_name": "joe"}
    assert await s1.get("chat:web:c1") == {"voice": True, "rate": 1.25, "voice_name": "joe"}


async def test_dedupe_claim_is_won_once_across_workers_and_expires(two: tuple[RedisConnection, RedisConnection]) -> None:
    d1, d2 = RedisDedupeStore(two[0]), RedisDedupeStore(two[1])
    results = await asyncio.gather(*(d.claim("web:c1:m1", 0.3) for d in (d1, d2, d1, d2)))
    assert sorted(results) == [False, False, False, True]
    await asyncio.sleep(0.4)
    assert await d2.claim("web:c1:m1", 60)
    await d2.release("web:c1:m1")
    assert await d1.claim("web:c1:m1", 60)


async def test_flood_counter_counts_across_workers(two: tuple[RedisConnection, RedisConnection]) -> None:
    c1, c2 = RedisRateCounter(two[0]), RedisRateCounter(two[1])
    counts = [await c.hit("flood:user:web:u1", 3600) for c in (c1, c2, c1, c2)]
    assert counts == [1, 2, 3, 4]
    assert await c2.hit("flood:user:web:u2", 3600) == 1


async def test_an_unreachable_redis_gives_a_store_error_after_its_retry_budget(redis_server: RedisServer) -> None:
    conn = RedisConnection(redis_server.url, "t", retry_for_s=0.5)
    store = RedisSettingsStore(conn)
    await store.start()
    try:
        redis_server.stop()
        with pytest.raises(StoreError, match="redis unreachable"):
            await store.get("chat:x")
    finally:
        await store.stop()


async def test_a_short_outage_is_ridden_out_by_retrying(redis_server: RedisServer) -> None:
    conn = RedisConnection(redis_server.url, "t", retry_for_s=20)
    store = RedisSettingsStore(conn)
    await store.start()
    try:
        await store.update("s", {"a": 1})
        redis_server.stop()
        pending = asyncio.create_task(store.get("s"))
        await asyncio.sleep(0.5)
        redis_server.start()  # the append-only file brings the data back
        assert await asyncio.wait_for(pending, 15) == {"a": 1}
    finally:
        await store.stop()


async def test_reads_started_ahead_take_no_task_and_share_the_claims_round_trip(two: tuple[RedisConnection, RedisConnection]) -> None:
    """Issue 15 (fifth round): the pipeline's read-ahead of history and facts is two futures the shared
    pipeline resolves, not two tasks: no task, scheduling and suspension of the message per read."""
    conn = two[0]
    history, settings, dedupe = RedisConversationStore(conn), RedisSettingsStore(conn), RedisDedupeStore(conn)
    await history.append("web:c1", Turn("user", "hi", 1.0, "Ann"), Turn("bot", "hello", 2.0, "Bot"))
    await settings.update("facts:web:c1", {"name": "Ann"})
    tasks_before = asyncio.all_tasks()
    before = conn.round_trips
    turns = history.read_recent("web:c1", 20)
    stored = settings.read("facts:web:c1")
    claimed = await dedupe.claim("web:c1:m1", 60)
    assert not isinstance(turns, asyncio.Task) and not isinstance(stored, asyncio.Task)
    assert {t for t in asyncio.all_tasks() - tasks_before if not t.done()} <= {conn._flusher}  # the flusher only
    assert claimed and turns.done() and stored.done()  # resolved with the claim's reply
    assert conn.round_trips - before == 1
    assert await turns == await history.recent("web:c1") == [Turn("user", "hi", 1.0, "Ann"), Turn("bot", "hello", 2.0, "Bot")]
    assert await stored == await settings.get("facts:web:c1") == {"name": "Ann"}


async def test_a_read_cancelled_before_its_batch_goes_is_left_out_and_the_others_answered(
    two: tuple[RedisConnection, RedisConnection],
) -> None:
    conn = two[0]
    settings = RedisSettingsStore(conn)
    await settings.update("s", {"a": 1})
    before = conn.round_trips
    dropped = settings.read("s")
    kept = settings.read("s")
    dropped.cancel()
    assert await kept == {"a": 1}
    assert dropped.cancelled()
    assert conn.round_trips - before == 1


async def test_a_reply_its_reader_cannot_read_fails_that_read_only(two: tuple[RedisConnection, RedisConnection]) -> None:
    conn = two[0]

    def unreadable(replies: list[object]) -> object:
        raise ValueError("not what I expected")

    bad = conn.submit("odd read", lambda pipe: pipe.execute_command("PING"), unreadable)
    good = conn.submit("ping", lambda pipe: pipe.execute_command("PING"))
    assert await good == [b"PONG"]
    with pytest.raises(StoreError, match="odd read: unreadable reply: ValueError: not what I expected"):
        await bad


async def test_a_read_of_a_store_not_started_fails_in_its_future_not_in_the_call(redis_server: RedisServer) -> None:
    """The pipeline starts reads ahead outside any handler: an error must reach whoever awaits them."""
    store = RedisConversationStore(RedisConnection(redis_server.url, "t"))
    future = store.read_recent("web:c1")
    with pytest.raises(StoreError, match="read history: the redis store is not started"):
        await future


async def test_a_worker_that_wrote_a_chats_last_turns_reads_none_of_them_back(two: tuple[RedisConnection, RedisConnection]) -> None:
    """Issue 15 (sixth round): the read sends the version of the window this worker holds; Redis answers
    with the turns only when the history changed since. The turns then are the very ones written here."""
    w1 = RedisConversationStore(two[0], max_turns=3)
    await w1.append("web:c1", Turn("user", "hi", 1.0, "Ann"))
    await w1.recent("web:c1")  # a window kept from Redis's answer
    written = [Turn("bot", "hello", 2.0, "Bot"), Turn("user", "and you?", 3.0, "Ann"), Turn("bot", "fine", 4.0, "Bot")]
    await w1.append("web:c1", *written)
    w1._parsed.clear()  # turns parsed from Redis would be new objects
    read = await w1.recent("web:c1")
    assert read == written and all(a is b for a, b in zip(read, written, strict=True))
    assert [t.text for t in await w1.recent("web:c1", 1)] == ["fine"]
    # what Redis holds is the same window
    assert await RedisConversationStore(two[1], max_turns=3).recent("web:c1") == written


async def test_a_window_kept_here_is_never_read_once_another_worker_wrote_or_cleared(two: tuple[RedisConnection, RedisConnection]) -> None:
    w1, w2 = RedisConversationStore(two[0], max_turns=4), RedisConversationStore(two[1], max_turns=4)
    a, b, c = Turn("user", "a", 1.0, "Ann"), Turn("bot", "b", 2.0, "Bot"), Turn("user", "c", 3.0, "Ann")
    await w1.append("web:c1", a)
    assert await w1.recent("web:c1") == [a]
    await w2.append("web:c1", b)  # the other worker answered this chat's last message
    assert await w1.recent("web:c1") == [a, b]
    # written between this worker's read and its write: the window it computes is not the history
    await w2.append("web:c1", c)
    await w1.append("web:c1", Turn("bot", "d", 4.0, "Bot"))
    assert [t.text for t in await w1.recent("web:c1")] == ["a", "b", "c", "d"]
    await w2.clear("web:c1")
    assert await w1.recent("web:c1") == []
    await w2.append("web:c1", c)
    assert await w1.recent("web:c1") == [c]


async def test_a_history_write_that_never_landed_leaves_no_window_behind(two: tuple[RedisConnection, RedisConnection]) -> None:
    """A write prepared (a reply's memory) but lost with its transaction: the next read asks Redis."""
    w1 = RedisConversationStore(two[0], max_turns=4)
    await w1.append("web:c1", Turn("user", "a", 1.0, "Ann"))
    assert len(await w1.recent("web:c1")) == 1
    w1.appending("web:c1", Turn("bot", "lost", 2.0, "Bot"))  # never run
    assert [t.text for t in await w1.recent("web:c1")] == ["a"]


async def test_the_history_read_script_is_loaded_again_after_redis_restarted_empty(tmp_path: pathlib.Path) -> None:
    """NOSCRIPT after a restart without data: the script is loaded again and the read sent again, once."""
    redis_server = RedisServer(tmp_path / "redis", persistent=False)
    redis_server.start()
    conn = RedisConnection(redis_server.url, "t")
    history = RedisConversationStore(conn, max_turns=4)
    await history.start()
    try:
        await history.append("web:c1", Turn("user", "a", 1.0, "Ann"))
        assert len(await history.recent("web:c1")) == 1
        redis_server.restart()  # no persistence: the data and the scripts are gone
        assert await history.recent("web:c1") == []
        await history.append("web:c1", Turn("user", "b", 2.0, "Ann"))
        assert [t.text for t in await history.recent("web:c1")] == ["b"]
    finally:
        await history.stop()
        redis_server.stop()
