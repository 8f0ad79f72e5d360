"""The vocabulary: special tokens, frequency cut-off, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engines.generative.vocab import SPECIALS, Vocab


def test_build_keeps_frequent_tokens_after_the_specials() -> None:
    vocab = Vocab.build([["a", "b", "a"], ["a", "c", "b"], ["d"]], max_size=len(SPECIALS) + 5, min_count=2)
    assert vocab.tokens == [*SPECIALS, "a", "b"]
    assert vocab.encode(["a", "zzz"]) == [vocab.index["a"], vocab.unk]


def test_build_respects_max_size() -> None:
    vocab = Vocab.build([list("abcdefgh") * 3], max_size=len(SPECIALS) + 3, min_count=1)
    assert len(vocab) == len(SPECIALS) + 3


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    vocab = Vocab.build([["hello", "world", "hello"]], min_count=1)
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocab.load(tmp_path / "vocab.json")
    assert loaded.tokens == vocab.tokens
    assert loaded.decode(loaded.encode(["hello", "world"])) == ["hello", "world"]


def test_a_vocabulary_without_the_specials_is_refused() -> None:
    with pytest.raises(ValueError):
        Vocab(["a", "b"])
