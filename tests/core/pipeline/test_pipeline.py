"""The pipeline end to end on the in-process bus: streaming, failures, ordering, memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from core import logcontext
from core.engine import Conversation
from core.errors import NoAnswer, StoreError
from core.model import Addressed, ChatKind, ReplyDelta, ReplySkipped, Turn
from core.pipeline.context import Context
from core.pipeline.dialogue import APOLOGY, CUT_SHORT, NO_ANSWER
from core.pipeline.middleware import Handler, Middleware
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import FloodLimits
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore
from tests.harness import Harness, ScriptedEngine, message, metric, with_settings


async def test_single_piece_answer_is_not_streamed() -> None:
    async with Harness([ScriptedEngine(["hello there"])]) as h:
        await h.send(message("hi"))
    assert h.texts() == ["hello there"]
    assert not any(isinstance(e, ReplyDelta) for e in h.events)
    assert h.done()[0].streamed is False


async def test_streamed_pieces_arrive_in_order_then_done() -> None:
    settings = with_settings(stream_interval_s=0.0)
    async with Harness([ScriptedEngine(["one ", "two ", "three"], delay_s=0.01)], settings=settings) as h:
        await h.send(message("count"))
    deltas = [e for e in h.events if isinstance(e, ReplyDelta)]
    assert [d.text for d in deltas] == ["one two ", "three"]  # the first piece waits for a second
    assert [d.seq for d in deltas] == [0, 1]
    done = h.done()[0]
    assert done.streamed and done.text == "one two three"
    assert {d.reply_id for d in deltas} == {done.reply_id}
    assert h.events.index(done) > h.events.index(deltas[-1])


async def test_fast_pieces_are_coalesced_into_deltas_that_add_up_to_the_reply() -> None:
    pieces = [f"w{i} " for i in range(40)]
    async with Harness([ScriptedEngine(pieces)], settings=with_settings(stream_interval_s=5.0)) as h:
        await h.send(message("talk"))
    deltas = [e for e in h.events if isinstance(e, ReplyDelta)]
    # the first delta goes out at the second piece; the rest came within the interval: one more at the end
    assert [d.text for d in deltas] == ["w0 w1 ", "".join(pieces[2:])]
    assert [d.seq for d in deltas] == [0, 1]
    done = h.done()[0]
    assert done.streamed and "".join(d.text for d in deltas).strip() == done.text
    assert h.events.index(done) > h.events.index(deltas[-1])


async def test_slow_pieces_each_get_a_delta_once_the_interval_has_passed() -> None:
    engine = ScriptedEngine(["a ", "b ", "c ", "d"], delay_s=0.06)
    async with Harness([engine], settings=with_settings(stream_interval_s=0.03)) as h:
        await h.send(message("slowly"))
    deltas = [e for e in h.events if isinstance(e, ReplyDelta)]
    assert [d.text for d in deltas] == ["a b ", "c ", "d"]


async def test_crashing_engine_gets_apology_and_bot_keeps_serving() -> None:
    crash = ScriptedEngine([], error=RuntimeError("boom"))
    async with Harness([crash]) as h:
        await h.send(message("first"))
        crash.error = None
        crash.pieces = ["fine now"]
        await h.send(message("second"))
    assert h.texts() == [APOLOGY, "fine now"]
    assert h.done()[0].notice


async def test_hanging_engine_times_out_with_apology() -> None:
    settings = with_settings(engine_timeout_s=0.3, first_piece_timeout_s=0.2)
    async with Harness([ScriptedEngine(hang=True)], settings=settings) as h:
        await h.send(message("anyone?"))
    assert h.texts() == [APOLOGY]


async def test_hanging_engine_falls_through_to_next_engine() -> None:
    settings = with_settings(engine_timeout_s=1.0, first_piece_timeout_s=0.2)
    async with Harness([ScriptedEngine(hang=True), ScriptedEngine(["backup"])], settings=settings) as h:
        await h.send(message("anyone?"))
    assert h.texts() == ["backup"]


async def test_failure_mid_stream_keeps_partial_text_and_says_so() -> None:
    engine = ScriptedEngine(["partial ", "answer"], error=RuntimeError("lost it"))
    async with Harness([engine]) as h:
        await h.send(message("go"))
    assert h.texts() == ["partial answer" + CUT_SHORT]


async def test_no_engine_has_an_answer() -> None:
    async with Harness([ScriptedEngine([], error=NoAnswer("nothing"))]) as h:
        await h.send(message("??"))
    assert h.texts() == [NO_ANSWER]


async def test_history_is_passed_to_engine_and_bounded() -> None:
    engine = ScriptedEngine(["ack"])
    async with Harness([engine], settings=with_settings(history_turns=4)) as h:
        for i in range(4):
            await h.send(message(f"m{i}"))
    last = engine.seen[-1]
    assert [t.text for t in last.turns] == ["m1", "ack", "m2", "ack"]
    assert len(last.turns) == 4
    assert [t.role for t in last.turns] == ["user", "bot", "user", "bot"]
    assert last.turns[-2].text == "m2"


async def test_messages_of_one_chat_are_answered_in_order() -> None:
    engine = ScriptedEngine(["x"], delay_s=0.005)
    async with Harness([engine], settings=with_settings(flood=FloodLimits(0, 0, 1))) as h:
        await h.send(*[message(f"n{i}", chat="same") for i in range(20)])
    answered = [e.target.in_reply_to.message_id for e in h.done() if e.target.in_reply_to]
    assert answered == sorted(answered, key=int)
    assert len(answered) == 20


async def test_group_chatter_not_addressed_gets_no_answer() -> None:
    async with Harness([ScriptedEngine(["hi"])]) as h:
        await h.send(message("just talking", kind=ChatKind.GROUP, addressed=Addressed.NO))
        await h.send(message("@bot hi", kind=ChatKind.GROUP, addressed=Addressed.MENTION))
    assert h.texts() == ["hi"]


async def test_many_chats_concurrently_all_answered() -> None:
    async with Harness([ScriptedEngine(["ok"], delay_s=0.01)]) as h:
        await h.send(*[message("hey", chat=f"c{i}", user=f"u{i}") for i in range(200)])
        await asyncio.sleep(0.05)
    assert len(h.done()) == 200


async def test_message_cut_off_by_shutdown_is_answered_after_restart() -> None:
    """Regression: dedupe must not swallow a message whose answer never went out (at-least-once)."""
    dedupe = MemoryDedupeStore()
    slow = ScriptedEngine(hang=True)
    async with Harness([slow], dedupe=dedupe, settings=with_settings(engine_timeout_s=60, first_piece_timeout_s=60)) as h:
        await h.bus.publish(message("are you there?", message_id="77"))
        await asyncio.sleep(0.05)
        await h.pipeline.stop(drain_timeout_s=0.05)
    assert h.texts() == []
    async with Harness([ScriptedEngine(["yes"])], dedupe=dedupe) as h2:
        await h2.send(message("are you there?", message_id="77"))
    assert h2.texts() == ["yes"]


async def test_deliberately_unanswered_messages_are_reported_as_skipped() -> None:
    settings = with_settings(flood=FloodLimits(per_user=1, per_chat=100, window_s=60))
    async with Harness([ScriptedEngine(["ok"])], settings=settings) as h:
        await h.send(message("one", message_id="1"), message("one", message_id="1"))
        await h.send(message("two"), message("three"))
    skipped = [e.reason for e in h.events if isinstance(e, ReplySkipped)]
    assert skipped == ["duplicate", "flood"]
    assert h.texts()[0] == "ok" and "faster than I can keep up" in h.texts()[1]


async def test_handled_messages_are_counted_and_timed() -> None:
    before = metric("bot_messages_handled_total", bot="testbot", outcome="answered")
    handled = metric("bot_stage_seconds_count", bot="testbot", stage="handle")
    async with Harness([ScriptedEngine(["fine"])]) as h:
        await h.send(message("one"), message("two", chat="c2"))
    assert h.texts() == ["fine", "fine"]
    assert metric("bot_messages_handled_total", bot="testbot", outcome="answered") == before + 2
    assert metric("bot_stage_seconds_count", bot="testbot", stage="handle") == handled + 2


async def test_duplicate_is_counted_as_skipped() -> None:
    skipped = metric("bot_messages_handled_total", bot="testbot", outcome="skipped")
    async with Harness([ScriptedEngine(["once"])]) as h:
        await h.send(message("hi", message_id="dup-metric"))
        await h.send(message("hi", message_id="dup-metric"))
    assert h.texts() == ["once"]
    assert metric("bot_messages_handled_total", bot="testbot", outcome="skipped") == skipped + 1


class Explodes(Middleware):
    """A middleware with a bug."""

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        raise RuntimeError("middleware bug")


async def test_handler_crash_is_counted_as_failed_and_as_an_error() -> None:
    failed = metric("bot_messages_handled_total", bot="testbot", outcome="failed")
    errors = metric("bot_errors_total", bot="testbot", kind="handler")
    h = Harness([ScriptedEngine(["never"])])
    h.pipeline = Pipeline(h.services, h.bus, middlewares=[Explodes()])
    async with h:
        await h.send(message("boom"))
    assert h.texts() == [APOLOGY]
    assert metric("bot_messages_handled_total", bot="testbot", outcome="failed") == failed + 1
    assert metric("bot_errors_total", bot="testbot", kind="handler") == errors + 1


class KeyRecordingEngine(ScriptedEngine):
    """Remembers the log context's message key each time it is asked."""

    def __init__(self) -> None:
        super().__init__(["ok"], delay_s=0.01)
        self.keys: list[str] = []

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        self.keys.append(logcontext.current())
        async for piece in super().reply(conversation):
            yield piece


async def test_engine_runs_with_its_message_key_in_the_log_context() -> None:
    engine = KeyRecordingEngine()
    first, second = message("a", chat="k1"), message("b", chat="k2")
    async with Harness([engine]) as h:
        await h.send(first, second)
    assert sorted(engine.keys) == sorted([first.key, second.key])
    assert logcontext.current() == ""


async def test_a_chat_move_waits_for_the_old_chats_message_in_flight_and_takes_its_memory() -> None:
    """The notice that chat g1 goes on as g2 arrives while g1's slow answer is being made: the move waits
    for it (the old chat's lock), so the turns it writes move too, and g2's next message sees them."""
    from dataclasses import replace

    from core.model import ChatMoved

    async with Harness([ScriptedEngine(["slow answer"], delay_s=0.3)]) as h:
        await h.bus.publish(message("remember this", chat="g1", kind=ChatKind.GROUP, addressed=Addressed.MENTION))
        await asyncio.sleep(0.05)  # its answer is being made
        notice = replace(message("", chat="g2", kind=ChatKind.GROUP, addressed=Addressed.NO), moved=ChatMoved("test", "g1", "g2"))
        await h.send(notice, message("next", chat="g2", kind=ChatKind.GROUP, addressed=Addressed.MENTION))
    history = [t.text for t in await h.services.conversations.recent("test:g2")]
    assert history == ["remember this", "slow answer", "next", "slow answer"]
    assert await h.services.conversations.recent("test:g1") == []
    assert h.texts() == ["slow answer", "slow answer"]


class ReadAheadBreaks(MemoryConversationStore):
    """A store whose read-ahead raises in the call itself, outside any awaited code (a user's store may)."""

    broken = True

    def read_recent(self, chat_key: str, limit: int | None = None) -> asyncio.Future[list[Turn]]:
        if self.broken:
            raise StoreError("history unreachable")
        return super().read_recent(chat_key, limit)


async def test_a_read_ahead_that_raises_in_its_call_gets_the_apology_and_the_bot_keeps_serving() -> None:
    """The read-ahead starts inside the pipeline's error boundary: its failure is the message's, not the task's."""
    store = ReadAheadBreaks()
    async with Harness([ScriptedEngine(["fine"])], conversations=store) as h:
        await h.send(message("first"))
        store.broken = False
        await h.send(message("second"))
    assert h.texts() == [APOLOGY, "fine"]
