"""The wire codec: every message and event survives encode/decode exactly; bad payloads fail clearly."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from core import codec
from core.codec import decode_event, decode_message, encode_event, encode_message, inline_attachments
from core.errors import CodecError
from core.model import (
    Addressed,
    Attachment,
    AttachmentKind,
    Author,
    Chat,
    ChatAction,
    ChatKind,
    ChatMoved,
    IncomingMessage,
    MessageRef,
    ReplyDelta,
    ReplyDone,
    ReplySkipped,
    ReplyTarget,
    ReplyVoice,
    ReplyVoiceFailed,
    SkipReason,
    VoiceClip,
)

CHAT = Chat("-100123", ChatKind.GROUP, "Team 💬")
TARGET = ReplyTarget("bot.telegram@g1", CHAT, MessageRef("telegram", "-100123", "42"), Addressed.MENTION, 1700000000.5)


def full_message() -> IncomingMessage:
    return IncomingMessage(
        platform="telegram",
        origin="bot.telegram@g1",
        chat=CHAT,
        author=Author("7", "Zoë <script>", is_bot=False),
        message_id="42",
        text="héllo 世界 \x00 \u202e",
        attachments=(Attachment(AttachmentKind.AUDIO, "audio/ogg", data=b"OggS\x00\xff" * 100, file_name="v.ogg", size=600, duration_s=1.5),),
        addressed=Addressed.MENTION,
        reply_to=MessageRef("telegram", "-100123", "41"),
        timestamp=1700000000.25,
        language="en",
        raw={"update_id": 9, "nested": {"list": [1, 2]}},
    )


def test_message_round_trip_is_exact() -> None:
    m = full_message()
    header, blobs = encode_message(m)
    assert blobs == [m.attachments[0].data]
    assert b"OggS" not in header  # audio travels as a blob, not inside the JSON
    back = decode_message(header, blobs)
    assert back == m
    assert back.raw == m.raw


def test_a_chat_moved_notice_round_trips_typed() -> None:
    m = IncomingMessage("telegram", "bot.telegram@g1", CHAT, Author("-100123", "Team"), "moved-from--5", moved=ChatMoved("telegram", "-5", "-100123"))
    back = decode_message(*encode_message(m))
    assert back == m and back.moved == ChatMoved("telegram", "-5", "-100123")
    assert back.moved.old_key == "telegram:-5" and back.moved.new_key == back.chat_key
    assert decode_message(*encode_message(full_message())).moved is None


@pytest.mark.parametrize(
    "event",
    [
        ReplyDelta("r1", TARGET, 3, "piece"),
        ReplyDone("r1", TARGET, "done ✓", streamed=True, notice=False),
        ReplyVoice("r1", TARGET, VoiceClip(b"\x00\x01" * 5000, "audio/ogg", 2.5, bytes([0, 128, 255]), "piper", "joe"), "text"),
        ChatAction(TARGET, "record_voice"),
        ReplySkipped(TARGET, SkipReason.DUPLICATE),
        ReplyVoiceFailed("r1", TARGET, "timeout"),
    ],
)
def test_every_event_round_trips(event: object) -> None:
    assert decode_event(*encode_event(event)) == event  # type: ignore[arg-type]


def test_skip_reason_comes_back_typed_and_an_unknown_one_is_a_codec_error() -> None:
    header, blobs = encode_event(ReplySkipped(TARGET, SkipReason.NOT_FOR_US))
    back = decode_event(header, blobs)
    assert isinstance(back, ReplySkipped) and back.reason is SkipReason.NOT_FOR_US
    with pytest.raises(CodecError, match="malformed event"):
        decode_event(header.replace(b"not-for-us", b"whatever"), blobs)


def test_unserializable_raw_payload_becomes_strings_not_an_error() -> None:
    m = IncomingMessage("web", "o", CHAT, Author("1", "a"), "1", raw={"obj": object(), "b": b"x"})
    back = decode_message(*encode_message(m))
    assert isinstance(back.raw["obj"], str)


def test_lazy_attachment_must_be_inlined_first() -> None:
    async def fetch() -> bytes:
        return b"audio"

    m = IncomingMessage("web", "o", CHAT, Author("1", "a"), "1", attachments=(Attachment(AttachmentKind.AUDIO, "audio/ogg", fetch=fetch),))
    with pytest.raises(CodecError, match="inline it first"):
        encode_message(m)


async def test_inline_attachments_fetches_and_leaves_out_what_fails_or_is_too_big() -> None:
    async def ok() -> bytes:
        return b"a" * 10

    async def broken() -> bytes:
        raise ConnectionError("platform down")

    async def big() -> bytes:
        return b"b" * 100

    atts = tuple(Attachment(AttachmentKind.AUDIO, "audio/ogg", fetch=f, file_name=n) for f, n in ((ok, "ok"), (broken, "broken"), (big, "big")))
    m = IncomingMessage("web", "o", CHAT, Author("1", "a"), "1", text="keep me", attachments=atts)
    inlined = await inline_attachments(m, max_bytes=50)
    assert [a.file_name for a in inlined.attachments] == ["ok"]
    assert inlined.attachments[0].data == b"a" * 10 and inlined.text == "keep me"
    assert decode_message(*encode_message(inlined)) == inlined


@pytest.mark.parametrize(
    "header,blobs,what",
    [
        (b"not json", [], "malformed message"),
        (json.dumps({"platform": "x"}).encode(), [], "KeyError"),
        (encode_message(full_message())[0], [], "IndexError"),  # the blob is missing
    ],
)
def test_malformed_messages_raise_codec_error(header: bytes, blobs: list[bytes], what: str) -> None:
    with pytest.raises(CodecError, match=what):
        decode_message(header, blobs)


def test_unknown_event_type_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="KeyError"):
        decode_event(json.dumps({"type": "Nope", "body": {}}).encode(), [])


def test_text_with_lone_surrogates_round_trips_instead_of_failing_the_message() -> None:
    """orjson refuses lone surrogates (valid in a Python str, e.g. from a JSON escape a platform sent):
    the stdlib fallback encodes them escaped, and both directions stay exact."""
    m = replace(full_message(), text="broken \ud800 half of a pair \udfff", raw={"text": "\ud83d"})
    header, blobs = encode_message(m)
    assert decode_message(header, blobs) == m
    event = ReplyDone("r1", TARGET, "answer \udc80")
    assert decode_event(*encode_event(event)) == event


def test_decoded_chats_and_authors_are_shared_kept_bounded_and_other_types_still_read_as_before() -> None:
    """Messages of one chat decode to the same Chat and Author objects (frozen: safe to share); the
    kept ones are bounded; a number where text belongs is read as text, as before, and not kept."""
    header, blobs = encode_message(full_message())
    first, second = decode_message(header, blobs), decode_message(header, blobs)
    assert first == second and first.chat is second.chat and first.author is second.author
    d = json.loads(header)
    d["chat"]["id"], d["author"]["id"], d["author"]["is_bot"] = -100123, 7, 1
    odd = decode_message(json.dumps(d).encode(), blobs)
    assert (odd.chat.id, odd.author.id, odd.author.is_bot) == ("-100123", "7", True)
    assert odd.chat == first.chat and odd.chat is not first.chat
    for i in range(codec._KEPT + 10):
        d["chat"]["id"] = f"c{i}"
        decode_message(json.dumps(d).encode(), blobs)
    assert len(codec._CHATS) <= codec._KEPT
