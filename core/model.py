"""The common message model shared by every adapter, the pipeline and the engines.

All values are frozen dataclasses. Incoming messages are what adapters publish;
outgoing events are what the pipeline sends back through the bus. Outgoing
events are plain data (no callables, no live objects) so that a distributed
bus can serialize them.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class ChatKind(str, enum.Enum):
    """Where a message was posted."""

    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"
    VOICE = "voice"


class AttachmentKind(str, enum.Enum):
    """What an attachment holds."""

    AUDIO = "audio"
    IMAGE = "image"
    FILE = "file"


class Addressed(str, enum.Enum):
    """Why a message counts as addressed to the bot (``NO`` when it does not)."""

    NO = "no"
    PRIVATE = "private"
    MENTION = "mention"
    REPLY = "reply"
    COMMAND = "command"
    CHANNEL = "channel"  # a channel configured to be answered in full


@dataclass(frozen=True, slots=True)
class Chat:
    """A conversation place on a platform."""

    id: str
    kind: ChatKind
    title: str = ""


@dataclass(frozen=True, slots=True)
class Author:
    """The sender of a message."""

    id: str
    display_name: str
    is_bot: bool = False


Fetch = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried by a message: inline bytes or a lazy fetch."""

    kind: AttachmentKind
    mime_type: str
    data: bytes | None = None
    fetch: Fetch | None = field(default=None, compare=False, repr=False)
    file_name: str = ""
    size: int | None = None
    duration_s: float | None = None

    async def read(self) -> bytes:
        """Return the attachment's bytes, fetching them from the platform if needed."""
        if self.data is not None:
            return self.data
        if self.fetch is None:
            raise ValueError("attachment has neither data nor a fetch function")
        return await self.fetch()


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Points at one message on one platform."""

    platform: str
    chat_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class ChatMoved:
    """A chat that goes on under a new id (a Telegram group that became a supergroup).

    What the bot keeps per chat (conversation memory, chat settings, remembered facts) moves from
    the old chat's key to the new one; the pipeline does it when a message carrying this notice
    (``IncomingMessage.moved``) reaches it. Moving is idempotent: a second notice finds nothing left.
    """

    platform: str
    old_chat_id: str
    new_chat_id: str

    @property
    def old_key(self) -> str:
        """Chat key (``IncomingMessage.chat_key``) the state was kept under."""
        return f"{self.platform}:{self.old_chat_id}"

    @property
    def new_key(self) -> str:
        """Chat key the state is kept under from now on."""
        return f"{self.platform}:{self.new_chat_id}"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message received by an adapter, translated into the common model.

    Attributes:
        platform: ``telegram``, ``discord``, ``web``, ``console``...
        origin: the id of the adapter instance that received it; replies go back there.
        message_id: the platform's id, unique within ``platform`` and ``chat``;
            together they form the idempotency key.
        addressed: why the message is for the bot, or ``Addressed.NO``.
        reply_to: the message this one answers, if any.
        moved: set on a notice that ``chat`` continues a chat that had another id (then
            ``chat.id == moved.new_chat_id``); the pipeline moves the old chat's state here
            before handling the message.
        raw: the raw platform payload (JSON-like), for handlers that need more.
    """

    platform: str
    origin: str
    chat: Chat
    author: Author
    message_id: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    addressed: Addressed = Addressed.NO
    reply_to: MessageRef | None = None
    timestamp: float = field(default_factory=time.time)
    language: str | None = None
    moved: ChatMoved | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ref(self) -> MessageRef:
        """This message as a reference."""
        return MessageRef(self.platform, self.chat.id, self.message_id)

    @property
    def key(self) -> str:
        """Idempotency key: unique per platform message."""
        return f"{self.platform}:{self.chat.id}:{self.message_id}"

    @property
    def chat_key(self) -> str:
        """Key of the conversation this message belongs to."""
        return f"{self.platform}:{self.chat.id}"

    @property
    def user_key(self) -> str:
        """Key of the author on this platform."""
        return f"{self.platform}:{self.author.id}"

    @property
    def is_addressed(self) -> bool:
        """True when the bot should answer."""
        return self.addressed is not Addressed.NO


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of conversation history."""

    role: str  # "user" or "bot"
    text: str
    at: float = field(default_factory=time.time)
    author: str = ""


@dataclass(frozen=True, slots=True)
class VoiceClip:
    """Encoded speech ready to send: normally a voice note (OGG/Opus).

    Attributes:
        data: the encoded audio.
        mime_type: ``audio/ogg`` for OGG/Opus voice notes.
        duration_s: playing time in seconds.
        waveform: up to 256 amplitude points (0-255) for Discord voice messages.
        engine: the TTS engine that produced the speech.
        voice: the voice name used.
    """

    data: bytes
    mime_type: str
    duration_s: float
    waveform: bytes = b""
    engine: str = ""
    voice: str = ""


def new_reply_id() -> str:
    """A fresh reply id."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where an outgoing event goes: the adapter instance and the message answered.

    ``received_at`` is the answered message's ``timestamp`` (wall clock), so the adapter
    that delivers the reply can measure end-to-end latency, whichever process answered.
    """

    destination: str
    chat: Chat
    in_reply_to: MessageRef | None = None
    addressed: Addressed = Addressed.NO
    received_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    """A piece of a reply being streamed; ``seq`` starts at 0 per reply."""

    reply_id: str
    target: ReplyTarget
    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """A complete text reply (after deltas, if it was streamed).

    ``streamed`` is true when :class:`ReplyDelta` events preceded this one.
    ``notice`` marks short service replies (flood warnings, apologies, errors).
    ``heard`` marks the transcript of a spoken message, shown back to its sender (``text``
    is a "heard: ..." line; ``transcript`` is the bare words, for adapters that show them
    in the user's own bubble instead).
    ``sources`` names what the answer was taken from (knowledge-base entry or passage ids).
    """

    reply_id: str
    target: ReplyTarget
    text: str
    streamed: bool = False
    notice: bool = False
    heard: bool = False
    transcript: str = ""
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyVoice:
    """Spoken version of a reply, sent after its text."""

    reply_id: str
    target: ReplyTarget
    clip: VoiceClip
    text: str = ""


@dataclass(frozen=True, slots=True)
class ChatAction:
    """A presence hint: ``typing`` while generating, ``record_voice`` while synthesizing."""

    target: ReplyTarget
    action: str


class SkipReason(enum.StrEnum):
    """Why the pipeline leaves an addressed message unanswered (the value travels on the bus)."""

    DUPLICATE = "duplicate"
    FLOOD = "flood"
    DENIED = "denied"
    NOT_FOR_US = "not-for-us"
    UNANSWERED = "unanswered"  # a handler ended without replying


@dataclass(frozen=True, slots=True)
class ReplySkipped:
    """An addressed message that will get no reply, and why.

    Sent when the pipeline deliberately leaves a message unanswered: a duplicate,
    flood control after its one notice, a deny list, a command for another bot.
    Adapters use it to end what they started for the message (a deferred slash
    command, a console prompt waiting for an answer); most simply ignore it.
    """

    target: ReplyTarget
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class ReplyVoiceFailed:
    """The voice note of a reply could not be made (its text was already sent).

    Ends what ``record_voice`` started: a page's "recording voice" indicator stops at once
    and may show a small notice. ``reason`` is ``timeout`` or ``error``. Adapters whose
    platform clears the indicator on its own may ignore it.
    """

    reply_id: str
    target: ReplyTarget
    reason: str = "error"


OutgoingEvent = ReplyDelta | ReplyDone | ReplyVoice | ChatAction | ReplySkipped | ReplyVoiceFailed
