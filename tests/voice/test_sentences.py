"""Streaming sentence splitting."""

from __future__ import annotations

from tests.voice.conftest import chars
from voice.sentences import SentenceSplitter, split_sentences, stream_sentences

TEXT = (
    "Mr. Smith paid $29.99 for version 2.5 of it. Then he left! Was it worth it? "
    "Dr. J. R. Tolkien wrote e.g. books. 你好。今天天气很好！我们去公园吧？好的。"
)


def test_abbreviations_decimals_and_initials_stay_whole() -> None:
    assert split_sentences(TEXT, min_chars=0)[:5] == [
        "Mr. Smith paid $29.99 for version 2.5 of it.",
        "Then he left!",
        "Was it worth it?",
        "Dr. J. R. Tolkien wrote e.g. books.",
        "你好。",
    ]


def test_cjk_punctuation_splits_without_spaces() -> None:
    assert split_sentences("你好。今天天气很好！我们去公园吧？好的。", min_chars=0) == [
        "你好。",
        "今天天气很好！",
        "我们去公园吧？",
        "好的。",
    ]


def test_char_by_char_stream_matches_whole_text() -> None:
    splitter = SentenceSplitter()
    streamed = [s for ch in TEXT for s in splitter.feed(ch)] + splitter.flush()
    assert streamed == split_sentences(TEXT)
    assert "".join(streamed).replace(" ", "") == TEXT.replace(" ", "")


def test_boundary_waits_for_next_non_space_character() -> None:
    splitter = SentenceSplitter(min_chars=0)
    assert splitter.feed("It costs $29.") == []  # the next character decides
    assert splitter.feed("99 today.") == []  # "$29.99" was not cut
    assert splitter.feed("   ") == []  # spaces alone do not end it
    assert splitter.feed("N") == ["It costs $29.99 today."]
    assert splitter.flush() == ["N"]


def test_short_sentences_join_the_next() -> None:
    assert split_sentences("Hi. Ok. This is a longer sentence here. Yes.", min_chars=20) == [
        "Hi. Ok. This is a longer sentence here.",
        "Yes.",
    ]


def test_lowercase_after_period_is_not_a_boundary() -> None:
    assert split_sentences("It weighs approx. five kilos. Fine.", min_chars=0) == [
        "It weighs approx. five kilos.",
        "Fine.",
    ]


def test_runaway_sentence_is_cut_at_a_space() -> None:
    parts = split_sentences("word " * 300, min_chars=20, max_chars=100)
    assert all(len(p) <= 100 for p in parts) and len(parts) >= 14


async def test_stream_sentences_from_async_chars() -> None:
    got = [s async for s in stream_sentences(chars("One sentence here, friend. And another one!"))]
    assert got == ["One sentence here, friend.", "And another one!"]
