"""What the Telegram replier keeps between events: streams in progress and groups that moved.

:class:`ReplierState` is the shared base of the replier's parts (:mod:`adapters.telegram.previews`,
:mod:`adapters.telegram.replies`, composed in :mod:`adapters.telegram.outbound`). A group that became
a supergroup (``ChatMigrated``) is followed here: later events for the old id go to the new one, and
the adapter is told once (``on_moved``) so the pipeline moves the group's memory and settings.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from telegram import Bot, ReplyParameters

from adapters.telegram.config import TelegramConfig
from adapters.telegram.formatting import preview
from adapters.telegram.sender import Sender
from core.model import ChatKind, OutgoingEvent, ReplyTarget

log = logging.getLogger(__name__)

_draft_ids = itertools.count(1)


@dataclass(slots=True)
class Stream:
    """A reply being streamed into one chat."""

    chat_id: int
    private: bool
    target: ReplyTarget
    text: str = ""
    shown: str = ""
    message_id: int | None = None
    draft_id: int = field(default_factory=lambda: next(_draft_ids))
    last_push: float = float("-inf")
    touched: float = field(default_factory=time.monotonic)

    @property
    def dirty(self) -> bool:
        return preview(self.text) != self.shown


def reply_parameters(target: ReplyTarget) -> ReplyParameters | None:
    ref = target.in_reply_to
    if target.chat.kind is ChatKind.PRIVATE or ref is None or ref.platform != "telegram":
        return None
    try:
        return ReplyParameters(message_id=int(ref.message_id), allow_sending_without_reply=True)
    except ValueError:
        return None


def same_message(a: ReplyTarget, b: ReplyTarget) -> bool:
    """Whether two targets answer the same incoming message."""
    return a.chat.id == b.chat.id and a.in_reply_to is not None and a.in_reply_to == b.in_reply_to


ChatMovedHook = Callable[[int, int, str], Awaitable[None]]
"""Called once per group that became a supergroup: ``(old chat id, new chat id, title)``."""


class ReplierState:
    """The replier's state and the chat moves it follows.

    ``on_moved`` is told the first time a send learns (``ChatMigrated``) that a group became a
    supergroup, so the adapter can tell the pipeline to move the group's stored state.
    """

    def __init__(self, bot: Bot, sender: Sender, config: TelegramConfig, on_moved: ChatMovedHook | None = None) -> None:
        self.bot = bot
        self.sender = sender
        self.config = config
        self.on_moved = on_moved
        self.streams: dict[str, Stream] = {}
        #: groups that became supergroups: old chat id -> new chat id (replies follow the chat)
        self.moved: dict[int, int] = {}

    def _follow(self, event: OutgoingEvent) -> OutgoingEvent:
        """``event`` addressed to the supergroup its group became, if it did."""
        new_id = self.moved.get(int(event.target.chat.id))
        if new_id is None:
            return event
        target = replace(event.target, chat=replace(event.target.chat, id=str(new_id)))
        return replace(event, target=target)

    async def _migrated(self, old_id: int, new_id: int, title: str) -> None:
        """A send learned of the migration: follow it, and report it the first time."""
        first = self.moved.get(old_id) != new_id
        self.follow(old_id, new_id)
        if first and self.on_moved is not None:
            try:
                await self.on_moved(old_id, new_id, title)
            except Exception:  # the replies still follow the chat; only its memory stays behind
                log.exception("telegram: could not report that group %s became supergroup %s", old_id, new_id)

    def follow(self, old_id: int, new_id: int) -> None:
        """Remember the migration; streams into the old group start over in the supergroup."""
        if self.moved.get(old_id) != new_id:
            log.info("telegram: group %s became supergroup %s; replies follow it", old_id, new_id)
        self.moved[old_id] = new_id
        for stream in self.streams.values():
            if stream.chat_id == old_id:
                stream.chat_id = new_id
                stream.target = replace(stream.target, chat=replace(stream.target.chat, id=str(new_id)))
                stream.message_id, stream.shown = None, ""

