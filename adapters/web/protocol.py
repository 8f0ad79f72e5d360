"""The web chat's WebSocket protocol: JSON text frames, validated with pydantic.

Connect to ``/ws?session=SESSION`` where ``SESSION`` is 8 to 64 characters of
``[A-Za-z0-9_-]`` kept by the browser (``localStorage``); it is the chat id, so
the conversation survives reloads and, with SQLite memory, server restarts.
Without a valid session the server makes one and announces it in ``welcome``.
Every tab of one session receives that session's replies.

Client to server::

    {"type": "message", "id": "MSG-ID", "text": "hello"}   id: 1-64 of [A-Za-z0-9_-], unique per
                                                            message; a resend with the same id is
                                                            answered once (dedupe)
    {"type": "ping"}                                        answered with {"type": "pong"}

Server to client::

    {"type": "welcome", "session": "...", "title": "..."}  first frame after connecting
    {"type": "ack", "id": "MSG-ID"}                         the message was accepted
    {"type": "echo", "id": "MSG-ID", "text": "..."}         a message sent from another tab of the session
    {"type": "typing", "action": "typing"|"record_voice", "in_reply_to": "MSG-ID"|null}
    {"type": "delta", "reply_id": "...", "seq": 0, "text": "piece", "in_reply_to": ...}
    {"type": "done", "reply_id": "...", "text": "full text", "streamed": true, "notice": false,
     "in_reply_to": ..., "sources": ["refund"]}             final text; replaces the deltas; ``sources``
                                                            (only when the answer cites any): knowledge-base ids
    {"type": "heard", "id": "MSG-ID", "text": "..."}     what was heard in a recording (POST /audio)
    {"type": "voice", "reply_id": "...", "url": "/voice/TOKEN", "mime_type": "audio/ogg",
     "duration_s": 1.5, "waveform": [0, 255], "text": "..."}  the page's voice bubble
    {"type": "voice_failed", "reply_id": "...", "reason": "error"|"timeout"}
                                                            no voice note for that reply (text only)
    {"type": "reset"}                                       /reset was done: clear the page
    {"type": "rejected", "id": "MSG-ID", "code": "too_long", "message": "..."}
                                                            not sent (over max_chars); keep the text
    {"type": "pong"}
    {"type": "skipped", "in_reply_to": "MSG-ID"|null, "reason": "duplicate"|...}
                                                            no reply will come for that message
    {"type": "error", "code": "...", "message": "..."}      the connection stays open

``welcome`` also carries ``greeting`` and ``hint`` (the empty page's text) and
``max_chars`` (the longest message accepted, or null); ``voice`` also carries
``waveform`` (0-255 loudness points, the same as Discord's voice messages).

Error codes: ``binary`` (binary frame), ``too_large`` (frame over the limit),
``bad_json`` (not JSON, or nested deeper than :data:`MAX_DEPTH`), ``bad_frame`` (JSON that is not a valid frame),
``unknown_type`` (a ``type`` this server does not know), ``unavailable``
(the bot is shutting down). Frames more than four times the limit close the
socket with code 1009 (the page reconnects). Text is cleaned of unpaired surrogates
(``"\\ud800"`` becomes U+FFFD) before it goes further.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from adapters.web.errors import ProtocolError
from core.model import ChatAction, OutgoingEvent, ReplyDelta, ReplyDone, ReplySkipped, ReplyTarget
from core.sanitize import clean_text

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SESSION_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_DEPTH = 32
"""The deepest nesting of arrays and objects a frame may have (a valid frame has 1)."""

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(r"[\[\]{}]")


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageFrame(_Frame):
    """A chat message typed in the page."""

    type: Literal["message"]
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    text: str

    @field_validator("text")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_text(value)


class PingFrame(_Frame):
    """Keep-alive from the page."""

    type: Literal["ping"]


ClientFrame = Annotated[MessageFrame | PingFrame, Field(discriminator="type")]
_CLIENT = TypeAdapter(ClientFrame)
CLIENT_TYPES = ("message", "ping")


def valid_session(value: str | None) -> bool:
    """True when ``value`` can be used as a session (chat) id."""
    return bool(value) and SESSION_PATTERN.match(value or "") is not None


def nesting_depth(data: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in a JSON text (brackets inside strings not counted).

    Cheap and iterative, so it can run before :func:`json.loads`, which recurses.
    """
    depth = deepest = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub("", data)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_client_frame(data: str | bytes, max_bytes: int) -> MessageFrame | PingFrame:
    """Decode and validate one frame from the page.

    Args:
        data: the WebSocket payload (``bytes`` for a binary frame).
        max_bytes: the largest accepted frame, in UTF-8 bytes.

    Returns:
        The validated frame.

    Raises:
        ProtocolError: with a code from the module docstring.
    """
    if isinstance(data, (bytes, bytearray)):
        raise ProtocolError("binary", "Binary frames are not accepted; send JSON text frames.")
    size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ProtocolError("too_large", f"That frame is too large ({size:,} bytes; the limit is {max_bytes:,}).")
    if nesting_depth(data) > MAX_DEPTH:
        raise ProtocolError("bad_json", f"That frame is nested too deeply (more than {MAX_DEPTH} levels).")
    try:
        raw: Any = json.loads(data)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "That frame is not valid JSON.") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ProtocolError("bad_frame", 'A frame must be a JSON object with a "type" string.')
    if raw["type"] not in CLIENT_TYPES:
        kind = raw["type"][:40]
        raise ProtocolError("unknown_type", f"Unknown frame type {kind!r}; expected one of {', '.join(CLIENT_TYPES)}.")
    try:
        return _CLIENT.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "frame"
        raise ProtocolError("bad_frame", f"Invalid {raw['type']} frame: {where}: {first['msg']}.") from None


def error_frame(code: str, message: str) -> dict[str, Any]:
    """An ``error`` frame."""
    return {"type": "error", "code": code, "message": message}


def _in_reply_to(target: ReplyTarget) -> str | None:
    return target.in_reply_to.message_id if target.in_reply_to else None


def event_frame(event: OutgoingEvent) -> dict[str, Any] | None:
    """The frame for a text or presence event (voice needs a URL: see the adapter).

    Returns:
        The frame, or None for event types this function does not encode.
    """
    if isinstance(event, ReplyDelta):
        return {
            "type": "delta",
            "reply_id": event.reply_id,
            "seq": event.seq,
            "text": event.text,
            "in_reply_to": _in_reply_to(event.target),
        }
    if isinstance(event, ReplyDone) and event.heard:
        return {"type": "heard", "id": _in_reply_to(event.target), "text": event.transcript or event.text}
    if isinstance(event, ReplyDone):
        return {
            "type": "done",
            "reply_id": event.reply_id,
            "text": event.text,
            "streamed": event.streamed,
            "notice": event.notice,
            **({"sources": list(event.sources)} if event.sources else {}),
            "in_reply_to": _in_reply_to(event.target),
        }
    if isinstance(event, ChatAction):
        return {"type": "typing", "action": event.action, "in_reply_to": _in_reply_to(event.target)}
    if isinstance(event, ReplySkipped):
        return {"type": "skipped", "in_reply_to": _in_reply_to(event.target), "reason": event.reason}
    return None
