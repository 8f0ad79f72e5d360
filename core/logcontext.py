"""The id of the message being handled, attached to every log record written on its behalf.

A worker sets it for the task that handles a message (so engine, speech and ack logs carry it);
a gateway sets it around each delivery of a reply. Both use :attr:`IncomingMessage.key`'s format
(``platform:chat:message``), so one grep follows a message across processes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

from core.model import MessageRef

_MESSAGE_KEY: ContextVar[str] = ContextVar("message_key", default="")


def key_of(ref: MessageRef | None) -> str:
    """The message key (``platform:chat:message``) of ``ref``; empty when there is none.

    Args:
        ref: the message a reply answers, usually ``event.target.in_reply_to``.

    Returns:
        The same string as :attr:`core.model.IncomingMessage.key` for that message.
    """
    return f"{ref.platform}:{ref.chat_id}:{ref.message_id}" if ref is not None else ""


def current() -> str:
    """The message key of the current task, or an empty string outside any message."""
    return _MESSAGE_KEY.get()


@contextlib.contextmanager
def message_context(key: str) -> Iterator[None]:
    """Mark log records written inside the block (and tasks it starts) with ``key``.

    Args:
        key: the message key, e.g. ``telegram:123:456``.
    """
    token = _MESSAGE_KEY.set(key)
    try:
        yield
    finally:
        _MESSAGE_KEY.reset(token)


class MessageIdFilter(logging.Filter):
    """Sets ``record.msg_id`` to the current message key (empty when none); never drops a record.

    A ``msg_id`` passed explicitly with ``extra=`` is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "msg_id", ""):
            record.msg_id = _MESSAGE_KEY.get()
        return True
