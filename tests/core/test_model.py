"""The common message model."""

from __future__ import annotations

import dataclasses

import pytest

from core.language import guess_language
from core.model import Addressed, Attachment, AttachmentKind, Author, Chat, ChatKind, IncomingMessage


def _msg(**kw: object) -> IncomingMessage:
    base: dict[str, object] = {
        "platform": "telegram", "origin": "bot.telegram", "chat": Chat("-100", ChatKind.GROUP), "author": Author("7", "Ann"), "message_id": "55"
    }
    base.update(kw)
    return IncomingMessage(**base)  # type: ignore[arg-type]


def test_keys_identify_message_chat_and_user() -> None:
    m = _msg()
    assert m.key == "telegram:-100:55"
    assert m.chat_key == "telegram:-100"
    assert m.user_key == "telegram:7"
    assert m.ref.message_id == "55"


def test_addressed_flag() -> None:
    assert not _msg().is_addressed
    assert _msg(addressed=Addressed.MENTION).is_addressed


def test_messages_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _msg().text = "changed"  # type: ignore[misc]


async def test_attachment_reads_inline_or_lazily() -> None:
    calls = []

    async def fetch() -> bytes:
        calls.append(1)
        return b"OggS..."

    assert await Attachment(AttachmentKind.AUDIO, "audio/ogg", data=b"abc").read() == b"abc"
    lazy = Attachment(AttachmentKind.AUDIO, "audio/ogg", fetch=fetch, duration_s=1.5)
    assert calls == []
    assert await lazy.read() == b"OggS..."
    with pytest.raises(ValueError):
        await Attachment(AttachmentKind.FILE, "application/pdf").read()


@pytest.mark.parametrize(
    ("text", "lang"),
    [("hello there", "en"), ("你好，今天怎么样", "zh"), ("こんにちは", "ja"), ("привет", "ru"), ("ok 你好", "zh"), ("", "en")],
)
def test_guess_language(text: str, lang: str) -> None:
    assert guess_language(text) == lang
