"""The in-process bus."""

from __future__ import annotations

import asyncio

import pytest

from core.bus import InProcessBus
from core.errors import BusClosed
from core.model import ReplyDone, ReplyTarget
from tests.harness import message


async def test_routes_outgoing_by_destination_in_order() -> None:
    bus = InProcessBus()
    await bus.start()
    for dest, text in [("a", "1"), ("b", "x"), ("a", "2")]:
        chat = message("").chat
        await bus.send(ReplyDone("r", ReplyTarget(dest, chat), text))
    out_a = bus.outgoing("a")
    assert [(await anext(out_a)).text for _ in range(2)] == ["1", "2"]  # type: ignore[union-attr]
    out_b = bus.outgoing("b")
    assert (await anext(out_b)).text == "x"  # type: ignore[union-attr]
    await bus.stop()


async def test_deliveries_in_order_and_stop_ends_iteration() -> None:
    bus = InProcessBus()
    await bus.start()
    for i in range(3):
        await bus.publish(message(str(i)))
    got = []

    async def read() -> None:
        async for d in bus.deliveries():
            got.append(d.message.text)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.01)
    await bus.stop()
    await asyncio.wait_for(reader, 1)
    assert got == ["0", "1", "2"]
    with pytest.raises(BusClosed):
        await bus.publish(message("late"))
