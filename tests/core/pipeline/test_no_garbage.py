"""A handled message leaves no reference cycles behind: the collector has nothing to find per reply."""

from __future__ import annotations

import gc

from core.pipeline.settings import FloodLimits
from tests.harness import Harness, ScriptedEngine, message, with_settings


async def test_answering_leaves_no_reference_cycles_per_reply() -> None:
    """Guards the asyncio.wait_for regression: each engine step ran in a task of its own, and the
    StopAsyncIteration ending a reply left a task, its exception, a traceback and five frames in a
    cycle, about 31 objects per reply, for the collector to find."""
    no_flood = with_settings(flood=FloodLimits(0, 0, 1))  # forty messages of one user in a second
    async with Harness([ScriptedEngine(["one ", "two"])], settings=no_flood) as h:
        await h.send(message("warm up", chat="c0"))
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for i in range(40):
                await h.send(message(f"m{i}", chat=f"c{i % 4}"))
            gc.collect()
            garbage = [type(o).__name__ for o in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert len(h.done()) == 41
    assert garbage == [], f"{len(garbage)} objects in cycles, e.g. {sorted(set(garbage))[:8]}"
