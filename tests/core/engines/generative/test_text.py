"""Preprocessing: normalization, tokenization, detokenization and streaming pieces."""

from __future__ import annotations

import pytest

from core.engines.generative.text import Detokenizer, detokenize, normalize, tokenize


def test_normalize_unifies_quotes_cuts_repeats_and_masks_links() -> None:
    assert normalize("I\u2019m   sooooo  happy https://example.com/x") == "I'm soo happy url"
    assert normalize("ｆｕｌｌ width") == "full width"  # NFKC


def test_tokenize_lowercases_and_restores_contractions() -> None:
    assert tokenize("Hi, IM fine and dont worry :)") == ["hi", ",", "i'm", "fine", "and", "don't", "worry", ":)"]


@pytest.mark.parametrize(
    "text",
    [
        "Hi, how are you? I'm fine.",
        "I don't know... Maybe (later) we can talk!",
        'She said "hello" to me.',
        "What's up? Not much :)",
    ],
)
def test_round_trip_reads_like_the_original(text: str) -> None:
    assert detokenize(tokenize(text)) == text


def test_detokenize_capitalizes_sentences_and_i() -> None:
    assert detokenize(["i", "think", "so", ".", "you", "?", "i'm", "sure"]) == "I think so. You? I'm sure"


def test_streamed_pieces_join_to_the_full_text() -> None:
    tokens = tokenize('well , i said "no" ... (really) ok ! i\'m done')
    d = Detokenizer()
    pieces = [d.piece(t) for t in tokens]
    assert len(pieces) == len(tokens)
    assert "".join(pieces) == detokenize(tokens)
