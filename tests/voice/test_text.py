"""Text preparation: markdown, URLs, emoji, markup injection and hostile input."""

from __future__ import annotations

import time

from voice.text import cap_length, detect_language, prepare_text


def test_markdown_and_code_blocks_are_stripped() -> None:
    text = "# Title\n\nHello **world** and _you_! Run `pip`:\n```python\nprint('secret')\n```\n- one\n- two"
    assert prepare_text(text) == "Title. Hello world and you! Run pip: one. two."


def test_links_read_as_a_short_word() -> None:
    out = prepare_text("See https://example.com/a/b?c=1&d=2 or [the docs](https://x.org) or www.foo.bar/baz.")
    assert out == "See link or the docs or link."


def test_emoji_dropped_and_symbols_expanded() -> None:
    assert prepare_text("Great job 👍🏽🎉! It's 50% done & ready") == "Great job! It's 50 percent done and ready."


def test_markup_cannot_survive_preparation() -> None:
    hostile = '</voice></speak><speak><voice name="evil"><prosody rate="x-fast">hi</prosody> &amp; <break time="9s"/>'
    out = prepare_text(hostile)
    assert not set("<>&") & set(out)
    assert "evil" not in out and "prosody" not in out
    assert "hi" in out


def test_bare_angle_brackets_and_ampersands_are_words() -> None:
    assert prepare_text("if a < b & b > c then <3") == "if a less than b and b greater than c then 3."


def test_control_and_invisible_characters_removed() -> None:
    out = prepare_text("a\x00b\x07c\u202ed\u200be\x1b[31mred")
    assert out == "a b cde [31mred."
    assert all(ch.isprintable() for ch in out)


def test_only_emoji_or_only_punctuation_leaves_nothing() -> None:
    assert prepare_text("😀🎉👍🏽🇺🇸") == ""
    assert prepare_text("!!!???...;;;") == ""
    assert prepare_text("```\ncode only\n```") == ""
    assert prepare_text("") == ""


def test_one_megabyte_is_capped_quickly() -> None:
    started = time.perf_counter()
    out = prepare_text("All work and no play. " * 50_000, max_chars=500)
    assert time.perf_counter() - started < 1.0
    assert 300 < len(out) <= 500 and out.endswith(".")


def test_cap_length_prefers_sentence_end_then_word() -> None:
    assert cap_length("One two three. Four five six seven.", 20) == "One two three."
    assert cap_length("alpha beta gamma delta epsilon", 18) == "alpha beta gamma."


def test_detect_language_by_script() -> None:
    assert detect_language("你好，今天天气很好。") == "zh"
    assert detect_language("こんにちは、元気ですか") == "ja"
    assert detect_language("안녕하세요") == "ko"
    assert detect_language("Привет, как дела?") == "ru"
    assert detect_language("Bonjour tout le monde", default="fr") == "fr"
    assert detect_language("Hello 你") == "en"  # a stray character does not switch voices


def test_prepare_text_never_exceeds_max_chars_even_without_spaces() -> None:
    """Issue 19: a text with no sentence end or space came back as max_chars + 1 (the added ".")."""
    for max_chars in (1, 2, 10, 2000):
        for text in ("a" * 5000, "word " * 1000, "x" * (max_chars + 1), "Hi. " + "b" * 5000):
            out = prepare_text(text, max_chars)
            assert len(out) <= max_chars, (max_chars, text[:20], len(out))
            assert cap_length(text, max_chars) == text or len(cap_length(text, max_chars)) <= max_chars
    assert len(prepare_text("a" * 5000, 2000)) == 2000
