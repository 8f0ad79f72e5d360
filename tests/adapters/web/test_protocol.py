"""The web chat protocol's frame parser and encoders."""

from __future__ import annotations

import pytest

from adapters.web.errors import ProtocolError
from adapters.web.protocol import MessageFrame, PingFrame, event_frame, parse_client_frame, valid_session
from core.model import Chat, ChatKind, MessageRef, ReplyDelta, ReplyTarget


def test_parses_message_and_ping() -> None:
    assert parse_client_frame('{"type":"message","id":"a-1","text":"hi"}', 1000) == MessageFrame(
        type="message", id="a-1", text="hi"
    )
    assert isinstance(parse_client_frame('{"type":"ping"}', 1000), PingFrame)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x00\x01", "binary"),
        ("{", "bad_json"),
        ("null", "bad_frame"),
        ('{"type": 3}', "bad_frame"),
        ('{"type": "nope"}', "unknown_type"),
        ('{"type": "message", "id": "", "text": "x"}', "bad_frame"),
        ('{"type": "message", "id": "' + "a" * 65 + '", "text": "x"}', "bad_frame"),
    ],
)
def test_rejects_bad_frames_with_a_code(data: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_frame(data, 1000)
    assert info.value.code == code


def test_limit_counts_utf8_bytes_not_characters() -> None:
    frame = '{"type":"message","id":"a","text":"' + "é" * 600 + '"}'
    assert len(frame) < 1000
    with pytest.raises(ProtocolError, match="too_large"):
        parse_client_frame(frame, 1000)


def test_session_ids() -> None:
    assert valid_session("abcdEFGH_-12")
    for bad in (None, "", "short", "has space1", "x" * 65, "../../etc"):
        assert not valid_session(bad)


def test_delta_frame_names_the_message_it_answers() -> None:
    target = ReplyTarget("w", Chat("s", ChatKind.PRIVATE), MessageRef("web", "s", "m1"))
    assert event_frame(ReplyDelta("r", target, 2, "x")) == {
        "type": "delta", "reply_id": "r", "seq": 2, "text": "x", "in_reply_to": "m1",
    }


def test_done_frame_carries_the_knowledge_base_sources_only_when_there_are_some() -> None:
    from core.model import ReplyDone

    target = ReplyTarget("web", Chat("s1", ChatKind.PRIVATE), MessageRef("web", "s1", "m1"))
    cited = event_frame(ReplyDone("r1", target, "Refunds take 5 days.", sources=("refund", "policies#warranty")))
    plain = event_frame(ReplyDone("r2", target, "Hello"))
    assert cited is not None and cited["sources"] == ["refund", "policies#warranty"]
    assert plain is not None and "sources" not in plain
