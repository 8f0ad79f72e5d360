"""Scores for generated replies: distinct-n, length, unigram F1, BLEU-2, unigram-baseline perplexity."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

_WORD = re.compile(r"\w")


def words(tokens: Iterable[str]) -> list[str]:
    """Tokens that hold a letter or digit (punctuation and emoticons dropped), for overlap scores."""
    return [t for t in tokens if _WORD.search(t)]


def distinct(replies: Sequence[Sequence[str]], n: int) -> float:
    """Distinct-n: unique n-grams over all n-grams of all replies (0 when there are none)."""
    grams: Counter[tuple[str, ...]] = Counter()
    for toks in replies:
        grams.update(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def f1(hypothesis: Sequence[str], reference: Sequence[str]) -> float:
    """Unigram F1 between two token lists (bag of words, as ParlAI's F1)."""
    common = Counter(hypothesis) & Counter(reference)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(hypothesis), same / len(reference)
    return 2 * precision * recall / (precision + recall)


def bleu2(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU with uni- and bigrams (smoothed), one reference each."""
    return float(
        corpus_bleu(
            [[list(r)] for r in references],
            [list(h) for h in hypotheses],
            weights=(0.5, 0.5),
            smoothing_function=SmoothingFunction().method1,
        )
    )


def unigram_perplexity(train_ids: Iterable[int], test_ids: Sequence[int], vocab_size: int) -> float:
    """Perplexity of ``test_ids`` under add-one-smoothed unigram frequencies of ``train_ids``."""
    counts = Counter(train_ids)
    total = sum(counts.values()) + vocab_size
    nll = -sum(math.log((counts[i] + 1) / total) for i in test_ids)
    return math.exp(nll / max(len(test_ids), 1))
