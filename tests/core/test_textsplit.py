"""Splitting long replies for platforms' message limits."""

from __future__ import annotations

import pytest

from core.textsplit import split_text


def test_short_text_is_one_piece_and_empty_is_none() -> None:
    assert split_text("  hi  ", 10) == ["hi"]
    assert split_text("   ", 10) == []


def test_prefers_line_then_sentence_then_word_boundaries() -> None:
    text = "First line here.\nSecond line is here. And more words follow"
    assert split_text(text, 30) == ["First line here.", "Second line is here.", "And more words follow"]


def test_every_piece_within_limit_and_nothing_lost() -> None:
    text = ("Sentence number %d is here. " * 500) % tuple(range(500))
    pieces = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_unbroken_run_is_cut_hard() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_chinese_sentence_ends_are_boundaries() -> None:
    text = "你好。" * 10 + " " + "再见！ " * 10
    assert all(len(p) <= 40 for p in split_text(text, 40))


def test_bad_limit() -> None:
    with pytest.raises(ValueError):
        split_text("x", 0)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_measure_counts_utf16_units_for_cuts():
    emoji = "\U0001F600" * 30  # 30 code points, 60 UTF-16 units
    pieces = split_text(emoji, 16, measure=utf16_units)
    assert [len(p) for p in pieces] == [8, 8, 8, 6], "hard cuts at 16 units, never inside a pair"
    assert "".join(pieces) == emoji
    words = " ".join(["\U0001F600\U0001F600 ab"] * 20)
    pieces = split_text(words, 25, measure=utf16_units)
    assert all(utf16_units(p) <= 25 for p in pieces) and all(p.endswith("ab") for p in pieces)
    assert " ".join(pieces) == words


def test_default_measure_still_counts_code_points():
    assert [len(p) for p in split_text("\U0001F600" * 30, 16)] == [16, 14]
