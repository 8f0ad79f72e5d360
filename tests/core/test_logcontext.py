"""The message key carried by log records: per task, reset after its block, set by a filter."""

from __future__ import annotations

import asyncio
import logging

from core import logcontext
from core.logcontext import MessageIdFilter, key_of, message_context
from tests.harness import message


def record() -> logging.LogRecord:
    return logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)


def test_key_of_a_reference_is_the_incoming_message_key() -> None:
    incoming = message("hi", chat="room", message_id="77")
    assert key_of(incoming.ref) == incoming.key == "test:room:77"
    assert key_of(None) == ""


def test_block_sets_the_key_and_restores_the_outer_one() -> None:
    assert logcontext.current() == ""
    with message_context("telegram:1:2"):
        assert logcontext.current() == "telegram:1:2"
        with message_context("telegram:1:3"):
            assert logcontext.current() == "telegram:1:3"
        assert logcontext.current() == "telegram:1:2"
    assert logcontext.current() == ""


def test_filter_stamps_records_with_the_current_key_or_nothing() -> None:
    stamp = MessageIdFilter()
    outside = record()
    assert stamp.filter(outside) is True
    assert outside.msg_id == ""  # type: ignore[attr-defined]
    with message_context("web:tab:9"):
        inside = record()
        assert stamp.filter(inside) is True
    assert inside.msg_id == "web:tab:9"  # type: ignore[attr-defined]


def test_filter_keeps_an_explicit_msg_id() -> None:
    explicit = record()
    explicit.msg_id = "discord:5:6"
    with message_context("web:tab:9"):
        MessageIdFilter().filter(explicit)
    assert explicit.msg_id == "discord:5:6"


async def test_concurrent_tasks_each_see_their_own_key() -> None:
    seen: dict[str, str] = {}
    both_inside = asyncio.Barrier(2)

    async def handle(key: str) -> None:
        with message_context(key):
            await both_inside.wait()  # the other task has set its key by now
            seen[key] = logcontext.current()

    await asyncio.gather(handle("a:1:1"), handle("b:2:2"))
    assert seen == {"a:1:1": "a:1:1", "b:2:2": "b:2:2"}
    assert logcontext.current() == ""
