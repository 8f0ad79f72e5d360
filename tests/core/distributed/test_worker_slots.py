"""Worker slots: no more workers of a bus read at once on a machine than it has slots; the rest stand by."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.distributed.worker_slots import WorkerSlots

pytestmark = pytest.mark.timeout(60)


async def test_a_third_worker_stands_by_until_one_of_two_slots_frees(tmp_path: Path) -> None:
    closing = asyncio.Event()
    a, b, c = (WorkerSlots("redis://x|bot", 2, tmp_path, poll_s=0.02) for _ in range(3))
    assert await a.take(closing) and await b.take(closing)
    assert {a.held, b.held} == {0, 1}
    standby = asyncio.create_task(c.take(closing))
    await asyncio.sleep(0.2)
    assert not standby.done() and c.held is None
    b.release()  # a worker stops or dies: the kernel drops its lock
    assert await asyncio.wait_for(standby, 5) is True
    assert c.held == 1
    a.release()
    c.release()


async def test_other_buses_have_their_own_slots_and_zero_means_no_limit(tmp_path: Path) -> None:
    closing = asyncio.Event()
    one = WorkerSlots("redis://x|bot-a", 1, tmp_path)
    other = WorkerSlots("redis://x|bot-b", 1, tmp_path)
    assert await one.take(closing) and await other.take(closing)
    unlimited = [WorkerSlots("redis://x|bot-a", 0, tmp_path) for _ in range(3)]
    assert all([await u.take(closing) for u in unlimited])
    one.release()
    other.release()


async def test_a_standing_by_worker_that_is_stopped_returns_without_a_slot(tmp_path: Path) -> None:
    closing = asyncio.Event()
    holder, waiting = WorkerSlots("k", 1, tmp_path), WorkerSlots("k", 1, tmp_path, poll_s=0.02)
    assert await holder.take(closing)
    task = asyncio.create_task(waiting.take(closing))
    await asyncio.sleep(0.05)
    closing.set()
    assert await asyncio.wait_for(task, 5) is False
    assert waiting.held is None
    holder.release()


async def test_a_slot_directory_that_cannot_be_used_means_no_limit_not_no_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the slots' folder would go")
    slots = WorkerSlots("k", 1, blocker)  # its folder would be inside a file: mkdir fails
    assert await slots.take(asyncio.Event()) is True
    assert slots.count == 0 and slots.held is None
