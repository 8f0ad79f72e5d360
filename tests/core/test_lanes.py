"""core.lanes: per-key FIFO workers, concurrent across keys, freed when idle, nothing dropped."""

from __future__ import annotations

import asyncio

import pytest

from core import logcontext
from core.lanes import Lanes
from core.logcontext import message_context


async def test_items_of_a_key_keep_their_order_and_keys_run_concurrently() -> None:
    seen: list[str] = []
    slow_started = asyncio.Event()

    async def handle(item: str) -> None:
        if item == "a1":
            slow_started.set()
            await asyncio.sleep(0.3)
        seen.append(item)

    lanes: Lanes[str] = Lanes(handle)
    for item in ("a1", "a2", "a3"):
        lanes.put("a", item)
    await slow_started.wait()
    lanes.put("b", "b1")
    await asyncio.wait_for(lanes.join(), 3.0)
    await lanes.stop()
    assert seen.index("b1") < seen.index("a1"), "a slow key must not hold up another key"
    assert [s for s in seen if s.startswith("a")] == ["a1", "a2", "a3"]


async def test_a_failing_item_is_skipped_and_the_lane_goes_on() -> None:
    seen: list[int] = []

    async def handle(item: int) -> None:
        if item == 2:
            raise RuntimeError("boom")
        seen.append(item)

    lanes: Lanes[int] = Lanes(handle)
    for i in range(1, 4):
        lanes.put("k", i)
    await asyncio.wait_for(lanes.join(), 2.0)
    await lanes.stop()
    assert seen == [1, 3]


async def test_an_idle_lane_is_freed_and_a_new_item_opens_it_again() -> None:
    seen: list[str] = []

    async def handle(item: str) -> None:
        seen.append(item)

    lanes: Lanes[str] = Lanes(handle, idle_s=0.05)
    lanes.put("k", "one")
    await lanes.join()
    assert lanes.active == 1
    for _ in range(100):
        if lanes.active == 0:
            break
        await asyncio.sleep(0.01)
    assert lanes.active == 0 and lanes.pending == 0
    lanes.put("k", "two")
    await asyncio.wait_for(lanes.join(), 2.0)
    await lanes.stop()
    assert seen == ["one", "two"]


async def test_a_custom_worker_that_returns_with_items_left_is_started_again() -> None:
    """Nothing is lost when items arrive while a custom worker is on its way out."""
    handled: list[int] = []

    async def work(key: str, queue: asyncio.Queue[int]) -> None:
        handled.append(queue.get_nowait())  # one item per run, then leave

    lanes: Lanes[int] = Lanes(work=work)
    for i in range(3):
        lanes.put("k", i)
    for _ in range(100):
        if len(handled) == 3 and lanes.active == 0:
            break
        await asyncio.sleep(0.01)
    assert handled == [0, 1, 2] and lanes.pending == 0


async def test_drain_waits_for_quick_lanes_and_cuts_off_a_stuck_one() -> None:
    done: list[str] = []

    async def handle(item: str) -> None:
        if item == "stuck":
            await asyncio.Event().wait()
        done.append(item)

    lanes: Lanes[str] = Lanes(handle, idle_s=0.01)
    lanes.put("a", "quick")
    lanes.put("b", "stuck")
    assert await asyncio.wait_for(lanes.drain(0.3), 2.0) == 1
    assert done == ["quick"] and lanes.active == 0


async def test_lane_does_not_inherit_the_log_id_of_the_message_that_opened_it() -> None:
    seen: list[tuple[str, str]] = []

    async def handle(item: str) -> None:
        seen.append((item, logcontext.current()))

    lanes: Lanes[str] = Lanes(handle)
    with message_context("discord:7:1"):
        lanes.put("7", "first")
    with message_context("discord:7:2"):
        lanes.put("7", "second")
    await asyncio.wait_for(lanes.join(), 2.0)
    await lanes.stop()
    assert seen == [("first", ""), ("second", "")]


def test_exactly_one_of_handle_and_work() -> None:
    async def handle(item: str) -> None:
        return None

    async def work(key: str, queue: asyncio.Queue[str]) -> None:
        return None

    with pytest.raises(ValueError, match="exactly one"):
        Lanes()
    with pytest.raises(ValueError, match="exactly one"):
        Lanes(handle, work=work)
