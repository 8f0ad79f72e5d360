"""Gateway messages in: a ``discord.Message`` becomes a :class:`core.model.IncomingMessage`."""

from __future__ import annotations

import re
from collections.abc import Collection

import discord

from core.model import Addressed, Attachment, AttachmentKind, Author, Chat, ChatKind, IncomingMessage, MessageRef
from core.sanitize import clean_text

PLATFORM = "discord"


def _attachment(item: discord.Attachment, voice_message: bool) -> Attachment:
    mime = (item.content_type or "").split(";")[0].strip() or "application/octet-stream"
    if mime.startswith("audio/") or voice_message:
        kind = AttachmentKind.AUDIO
    elif mime.startswith("image/"):
        kind = AttachmentKind.IMAGE
    else:
        kind = AttachmentKind.FILE
    return Attachment(
        kind=kind,
        mime_type=mime if not (voice_message and mime == "application/octet-stream") else "audio/ogg",
        fetch=item.read,  # lazy: nothing is downloaded unless a handler reads it
        file_name=item.filename,
        size=item.size,
        duration_s=item.duration,
    )


def _chat(channel: discord.abc.MessageableChannel) -> Chat:
    if isinstance(channel, (discord.DMChannel, discord.GroupChannel)):
        return Chat(str(channel.id), ChatKind.PRIVATE, "")
    if isinstance(channel, (discord.VoiceChannel, discord.StageChannel)):
        return Chat(str(channel.id), ChatKind.VOICE, getattr(channel, "name", ""))
    return Chat(str(channel.id), ChatKind.GROUP, clean_text(getattr(channel, "name", "") or ""))


def _is_private(channel: discord.abc.MessageableChannel) -> bool:
    if isinstance(channel, (discord.DMChannel, discord.GroupChannel)):
        return True
    # an uncached DM arrives as a PartialMessageable with type private
    return getattr(channel, "type", None) == discord.ChannelType.private and getattr(channel, "guild", None) is None


def _replied_to_me(message: discord.Message, me_id: int) -> bool:
    ref = message.reference
    if ref is None:
        return False
    resolved = ref.resolved if isinstance(ref.resolved, discord.Message) else ref.cached_message
    return resolved is not None and resolved.author.id == me_id


def addressed(message: discord.Message, me_id: int, answer_channels: Collection[str]) -> Addressed:
    """Why ``message`` is for the bot (``Addressed.NO`` when it is not)."""
    channel = message.channel
    if _is_private(channel):
        return Addressed.PRIVATE
    if any(user.id == me_id for user in message.mentions) or f"<@{me_id}>" in message.content:
        return Addressed.MENTION
    if _replied_to_me(message, me_id):
        return Addressed.REPLY
    parent_id = getattr(channel, "parent_id", None)
    if str(channel.id) in answer_channels or (parent_id is not None and str(parent_id) in answer_channels):
        return Addressed.CHANNEL
    return Addressed.NO


def strip_mention(text: str, me_id: int) -> str:
    """Remove the bot's own mention (``<@id>`` or ``<@!id>``) from ``text``."""
    return re.sub(rf"<@!?{me_id}>", "", text).strip()


def translate(
    message: discord.Message,
    *,
    me_id: int,
    origin: str,
    answer_channels: Collection[str] = (),
    ignore_bots: bool = True,
) -> IncomingMessage | None:
    """Translate a gateway message, or return None when the bot must not see it.

    Args:
        message: the discord.py message.
        me_id: the bot's own user id.
        origin: the adapter id that received the message.
        answer_channels: channel ids answered in full.
        ignore_bots: drop messages written by other bots.

    Returns:
        The incoming message (possibly not addressed), or None for own and ignored messages.
    """
    author = message.author
    if author.id == me_id:
        return None
    if author.bot and ignore_bots:
        return None
    if message.type not in (discord.MessageType.default, discord.MessageType.reply):
        return None
    voice_message = message.flags.voice
    reply_to = None
    if message.reference is not None and message.reference.message_id is not None:
        ref_chat = str(message.reference.channel_id or message.channel.id)
        reply_to = MessageRef(PLATFORM, ref_chat, str(message.reference.message_id))
    return IncomingMessage(
        platform=PLATFORM,
        origin=origin,
        chat=_chat(message.channel),
        author=Author(str(author.id), clean_text(author.display_name), bool(author.bot)),
        message_id=str(message.id),
        text=clean_text(strip_mention(message.content, me_id)),
        attachments=tuple(_attachment(a, voice_message) for a in message.attachments),
        addressed=addressed(message, me_id, answer_channels),
        reply_to=reply_to,
        timestamp=message.created_at.timestamp(),
        raw={"guild_id": str(message.guild.id) if message.guild else None, "channel_id": str(message.channel.id)},
    )
