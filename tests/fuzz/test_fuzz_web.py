"""Seeded fuzzing of the web chat: hostile frames over many parallel connections sharing sessions.

Every valid message is acknowledged once to its tab and answered once to every tab of its
session; junk gets an error frame; no tab is silenced and no socket is dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import Counter
from typing import Any

import aiohttp

from adapters.web.config import WebConfig
from core.engines.echo import EchoEngine
from tests.adapters.web.harness import running_bot
from tests.fuzz.cases import FrameCase, web_frame

SESSIONS = [f"fuzz-session-{i:02d}" for i in range(6)]
TABS = 24
FRAMES_PER_TAB = 40
MAX_BYTES = 4096


async def _tab(ws: aiohttp.ClientWebSocketResponse, frames: list[FrameCase], expect: set[str], timeout: float) -> dict[str, Any]:
    """Send ``frames``, then read until a ``done`` for every id in ``expect`` arrived (and a little longer)."""
    got: dict[str, Any] = {"done": Counter(), "ack": Counter(), "errors": Counter(), "texts": {}, "closed": None}

    async def read() -> None:
        while not expect <= set(got["done"]):
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                got["closed"] = (msg.type, msg.data)
                return
            frame = json.loads(msg.data)
            if frame["type"] == "done":
                got["done"][frame["in_reply_to"]] += 1
                got["texts"][frame["in_reply_to"]] = frame["text"]
            elif frame["type"] == "ack":
                got["ack"][frame["id"]] += 1
            elif frame["type"] == "error":
                got["errors"][frame["code"]] += 1

    reader = asyncio.create_task(read())
    for frame in frames:
        if isinstance(frame.data, bytes):
            await ws.send_bytes(frame.data)
        else:
            await ws.send_str(frame.data)
    try:
        await asyncio.wait_for(reader, timeout)
    except TimeoutError:
        pass
    extra = asyncio.create_task(read())  # doubles would arrive now
    await asyncio.sleep(0.3)
    extra.cancel()
    return got


async def test_hostile_frames_over_parallel_tabs_lose_and_double_nothing(http: aiohttp.ClientSession, seed: int) -> None:
    rng = random.Random(seed)
    serial = itertools.count(1)
    plans = [[web_frame(rng, serial, MAX_BYTES) for _ in range(FRAMES_PER_TAB)] for _ in range(TABS)]
    session_of = [SESSIONS[i % len(SESSIONS)] for i in range(TABS)]
    answers = {f.msg_id: f.answer for plan in plans for f in plan if f.msg_id}
    by_session: dict[str, set[str]] = {s: set() for s in SESSIONS}
    for plan, session in zip(plans, session_of, strict=True):
        by_session[session] |= {f.msg_id for f in plan if f.msg_id}
    async with running_bot(EchoEngine(), config=WebConfig(port=0, max_frame_bytes=MAX_BYTES)) as bot:
        sockets = [await http.ws_connect(f"{bot.ws_url}?session={s}") for s in session_of]
        for ws in sockets:
            welcome = json.loads((await ws.receive()).data)
            assert welcome["type"] == "welcome"
        results = await asyncio.gather(
            *(_tab(ws, plan, by_session[s], 30) for ws, plan, s in zip(sockets, plans, session_of, strict=True))
        )
        for ws in sockets:
            assert not ws.closed
            await ws.close()
    for got, plan, session in zip(results, plans, session_of, strict=True):
        assert got["closed"] is None, (seed, got["closed"])
        own = [f.msg_id for f in plan if f.msg_id]
        assert all(got["ack"][i] == 1 for i in own), (seed, "ack", [i for i in own if got["ack"][i] != 1])
        missing = by_session[session] - set(got["done"])
        assert not missing, (seed, session, "lost", sorted(missing)[:5])
        doubled = [i for i, n in got["done"].items() if n > 1]
        assert not doubled, (seed, session, "doubled", doubled[:5])
        assert all(got["texts"][i] == answers[i] for i in by_session[session]), seed
        junk = sum(1 for f in plan if not f.msg_id and f.kind != "ping")
        assert sum(got["errors"].values()) == junk, (seed, got["errors"], Counter(f.kind for f in plan))
