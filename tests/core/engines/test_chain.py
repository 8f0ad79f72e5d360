"""The engine chain: fall-through on decline, failure and timeout; start failures."""

from __future__ import annotations

import pytest

from core.engine import Conversation
from core.engines.chain import EngineChain
from core.errors import EngineError, EngineTimeout, EngineUnavailable, NoAnswer
from tests.harness import ScriptedEngine


async def collect(chain: EngineChain, text: str = "hi") -> str:
    return "".join([p async for p in chain.reply(Conversation(text=text))])


async def test_declining_engine_passes_to_next() -> None:
    chain = EngineChain([ScriptedEngine([], error=NoAnswer("meh")), ScriptedEngine(["second"])])
    assert await collect(chain) == "second"


async def test_all_decline_raises_no_answer() -> None:
    chain = EngineChain([ScriptedEngine([], error=NoAnswer("a")), ScriptedEngine([], error=NoAnswer("b"))])
    with pytest.raises(NoAnswer):
        await collect(chain)


async def test_failure_without_answer_raises_engine_error() -> None:
    chain = EngineChain([ScriptedEngine([], error=ValueError("x"))])
    with pytest.raises(EngineError) as info:
        await collect(chain)
    assert not isinstance(info.value, NoAnswer)


async def test_slow_after_first_piece_raises_timeout() -> None:
    chain = EngineChain([ScriptedEngine(["a", "b", "c"], delay_s=0.2)], timeout_s=0.3, first_piece_timeout_s=0.3)
    with pytest.raises(EngineTimeout):
        await collect(chain)


async def test_engine_that_cannot_start_is_left_out() -> None:
    class Broken(ScriptedEngine):
        name = "broken"

        async def start(self) -> None:
            raise EngineUnavailable("no model file")

    chain = EngineChain([Broken(), ScriptedEngine(["works"])])
    await chain.start()
    assert [e.name for e in chain.engines] == ["scripted"]
    assert await collect(chain) == "works"


async def test_no_engine_can_start_raises() -> None:
    class Broken(ScriptedEngine):
        async def start(self) -> None:
            raise OSError("disk")

    with pytest.raises(EngineUnavailable):
        await EngineChain([Broken()]).start()
