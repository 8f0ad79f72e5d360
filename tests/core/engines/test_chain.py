"""The engine chain: fall-through on decline, failure and timeout; start failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.engine import Conversation
from core.engines.chain import ChainReply, EngineChain, Outcome
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


class Picky(ScriptedEngine):
    """Answers (slowly) only the texts that start with its name; declines the others."""

    def __init__(self, name: str, delay_s: float) -> None:
        super().__init__([name], delay_s=delay_s)
        self.name = name

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        if not conversation.text.startswith(self.name):
            raise NoAnswer("not mine")
        async for piece in super().reply(conversation):
            yield piece


async def test_concurrent_replies_each_name_the_engine_that_answered_them() -> None:
    """Regression: the chain kept the answering engine in one attribute shared by every message."""
    chain = EngineChain([Picky("slow", 0.3), Picky("fast", 0.0)])
    slow, fast = chain.reply(Conversation(text="slow one")), chain.reply(Conversation(text="fast one"))

    async def drain(answer: ChainReply) -> str:
        return "".join([p async for p in answer])

    assert await asyncio.gather(drain(slow), drain(fast)) == ["slow", "fast"]
    assert (slow.engine, fast.engine) == ("slow", "fast")


async def test_each_attempt_is_classified_by_type_not_by_its_text() -> None:
    """A failure whose text reads like a decline is still a failure (the chain once matched text suffixes)."""
    hanging = ScriptedEngine(hang=True)
    hanging.name = "hanging"
    chain = EngineChain(
        [ScriptedEngine([], error=NoAnswer("meh")), hanging, ScriptedEngine([], error=ValueError("no answer"))],
        first_piece_timeout_s=0.1,
    )
    answer = chain.reply(Conversation(text="hi"))
    with pytest.raises(EngineError) as info:
        _ = [p async for p in answer]
    assert not isinstance(info.value, NoAnswer)
    assert [a.outcome for a in answer.attempts] == [Outcome.DECLINED, Outcome.TIMED_OUT, Outcome.FAILED]
    assert answer.engine is None

    class Declines(ScriptedEngine):
        name = "failed: ValueError"  # a name that reads like a failure does not make a decline one

    only_declines = EngineChain([Declines([], error=NoAnswer())])
    with pytest.raises(NoAnswer):
        await collect(only_declines)
