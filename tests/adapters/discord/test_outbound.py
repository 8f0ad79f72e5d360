"""The delivery lanes: a lane outlives the delivery that opened it, so it starts with no message's log id."""

from __future__ import annotations

import asyncio

from adapters.discord.outbound import Lanes
from core import logcontext
from core.logcontext import message_context


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
