"""Translates Telegram updates into the common message model.

Only new messages and channel posts become :class:`core.model.IncomingMessage`;
edits, service messages (joins, pins...) and unknown update types yield None, so
they never trigger a second answer. The one service message that does come through
is a group becoming a supergroup (``migrate_to_chat_id`` / ``migrate_from_chat_id``):
it becomes an unaddressed notice in the supergroup carrying :class:`core.model.ChatMoved`,
so the pipeline moves the group's memory and settings there.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Message, MessageEntity, Update

from core.model import (
    Addressed,
    Attachment,
    AttachmentKind,
    Author,
    Chat,
    ChatKind,
    ChatMoved,
    IncomingMessage,
    MessageRef,
)
from core.sanitize import clean_text

log = logging.getLogger(__name__)

PLATFORM = "telegram"

Downloader = Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who we are on Telegram (from ``getMe``)."""

    id: int
    username: str


@dataclass(frozen=True, slots=True)
class AddressRules:
    """How group and channel messages count as addressed."""

    groups_only_when_addressed: bool = True
    answer_channel_posts: bool = False
    ignore_bots: bool = True


_KINDS = {"private": ChatKind.PRIVATE, "group": ChatKind.GROUP, "supergroup": ChatKind.GROUP, "channel": ChatKind.CHANNEL}


def clean(text: str | None) -> str:
    """Text safe to log and store: lone surrogates become U+FFFD."""
    return clean_text(text)


class MalformedUpdate(ValueError):
    """An update whose ids are not what Telegram sends (integers); it is skipped."""


def _check_id(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedUpdate(f"{what} is {value!r}, not an integer")
    return value


def _command(msg: Message, text: str, entities: dict[MessageEntity, str], me: BotIdentity) -> tuple[str, bool | None]:
    """Normalize a leading ``/cmd@ourbot``; returns (text, for us?) or (text, None) when no command."""
    for entity, value in entities.items():
        if entity.type != MessageEntity.BOT_COMMAND or entity.offset != 0:
            continue
        name, _, bot = value.partition("@")
        if not bot:
            return text, True
        if bot.lower() != me.username.lower():
            return text, False
        return name + text[len(value) :], True
    return text, None


def _mentions_us(entities: dict[MessageEntity, str], me: BotIdentity) -> str | None:
    """The mention of our bot in the text (to strip), or None."""
    for entity, value in entities.items():
        if entity.type == MessageEntity.MENTION and value.lower() == f"@{me.username.lower()}":
            return value
        if entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == me.id:
            return value
    return None


def _addressed(msg: Message, kind: ChatKind, text: str, entities: dict[MessageEntity, str], me: BotIdentity, rules: AddressRules) -> tuple[str, Addressed]:
    text, command = _command(msg, text, entities, me)
    if command is False:
        return text, Addressed.NO
    if command:
        return text, Addressed.COMMAND
    if kind is ChatKind.PRIVATE:
        return text, Addressed.PRIVATE
    mention = _mentions_us(entities, me)
    if mention is not None:
        return " ".join(text.replace(mention, " ", 1).split()), Addressed.MENTION
    replied = msg.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        return text, Addressed.REPLY
    if kind is ChatKind.CHANNEL and rules.answer_channel_posts:
        return text, Addressed.CHANNEL
    if kind is ChatKind.GROUP and not rules.groups_only_when_addressed:
        return text, Addressed.CHANNEL
    return text, Addressed.NO


def _seconds(media: Any) -> float:
    with warnings.catch_warnings():  # PTB warns that ``duration`` will become a timedelta
        warnings.simplefilter("ignore")
        value = media.duration
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value or 0)


def _attachments(msg: Message, download: Downloader) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    # a video note is a round video message: its sound is what the user said
    for media, default_name in ((msg.voice, "voice.ogg"), (msg.audio, "audio"), (msg.video_note, "video_note.mp4")):
        if media is None:
            continue
        file_id = media.file_id

        async def fetch(file_id: str = file_id) -> bytes:
            return await download(file_id)

        found.append(
            Attachment(
                kind=AttachmentKind.AUDIO,
                mime_type=getattr(media, "mime_type", None) or ("video/mp4" if media is msg.video_note else "audio/ogg"),
                fetch=fetch,
                file_name=clean(getattr(media, "file_name", None)) or default_name,
                size=media.file_size,
                duration_s=_seconds(media),
            )
        )
    return tuple(found)


def moved_notice(
    origin: str, old_id: int, new_id: int, title: str = "", message_id: str = "", timestamp: float | None = None
) -> IncomingMessage:
    """The notice that group ``old_id`` goes on as supergroup ``new_id`` (an unaddressed message there).

    ``message_id`` defaults to one derived from the old id, so notices of the same move share a dedupe key.
    """
    chat = Chat(str(new_id), ChatKind.GROUP, title)
    return IncomingMessage(
        platform=PLATFORM,
        origin=origin,
        chat=chat,
        author=Author(str(new_id), title),
        message_id=message_id or f"moved-from-{old_id}",
        moved=ChatMoved(PLATFORM, str(old_id), str(new_id)),
        timestamp=time.time() if timestamp is None else timestamp,
    )


def _migration(msg: Message, origin: str) -> IncomingMessage | None:
    """The notice a group-to-supergroup service message carries, or None for any other message."""
    title = clean(msg.chat.title or "")
    when = msg.date.timestamp()
    if msg.migrate_to_chat_id is not None:  # sent in the old group
        return moved_notice(origin, msg.chat.id, _check_id(msg.migrate_to_chat_id, "migrate_to_chat_id"), title, timestamp=when)
    if msg.migrate_from_chat_id is not None:  # sent in the new supergroup
        old = _check_id(msg.migrate_from_chat_id, "migrate_from_chat_id")
        return moved_notice(origin, old, msg.chat.id, title, timestamp=when)
    return None


def translate(
    update: Update,
    raw: dict[str, Any],
    me: BotIdentity,
    origin: str,
    rules: AddressRules,
    download: Downloader,
) -> IncomingMessage | None:
    """The message an update carries, or None when it must not be answered.

    Args:
        update: the parsed update.
        raw: the update's JSON, kept as ``IncomingMessage.raw``.
        me: our bot.
        origin: the adapter id (replies go back there).
        rules: group and channel addressing rules.
        download: fetches a file's bytes by ``file_id`` (used lazily).

    Raises:
        MalformedUpdate: the chat, message or sender id is not an integer.
    """
    msg = update.message or update.channel_post
    if msg is None:
        return None  # edits, callbacks, member updates, unknown types
    _check_id(msg.chat.id, "chat.id")
    _check_id(msg.message_id, "message_id")
    if (notice := _migration(msg, origin)) is not None:
        return notice
    sender = msg.from_user
    if sender is not None:
        _check_id(sender.id, "from.id")
        if sender.id == me.id:
            return None
        if sender.is_bot and rules.ignore_bots:
            log.debug("telegram: message %s from bot %s ignored (ignore_bots)", msg.message_id, sender.id)
            return None
    kind = _KINDS.get(msg.chat.type)
    if kind is None:
        return None
    text = clean(msg.text if msg.text is not None else msg.caption)
    entities = msg.parse_entities() if msg.text is not None else msg.parse_caption_entities()
    attachments = _attachments(msg, download)
    if not text and not attachments:
        return None  # service messages, stickers, photos without caption
    text, addressed = _addressed(msg, kind, text, entities, me, rules)
    if sender is not None:
        author = Author(str(sender.id), clean(sender.full_name), sender.is_bot)
    elif msg.sender_chat is not None:
        author = Author(str(msg.sender_chat.id), clean(msg.sender_chat.title or ""), False)
    else:
        author = Author(str(msg.chat.id), clean(msg.chat.title or ""), False)
    replied = msg.reply_to_message
    chat_id = str(msg.chat.id)
    return IncomingMessage(
        platform=PLATFORM,
        origin=origin,
        chat=Chat(chat_id, kind, clean(msg.chat.title or msg.chat.full_name or "")),
        author=author,
        message_id=str(msg.message_id),
        text=text,
        attachments=attachments,
        addressed=addressed,
        reply_to=MessageRef(PLATFORM, chat_id, str(replied.message_id)) if replied is not None else None,
        timestamp=msg.date.timestamp(),
        raw=raw,
    )
