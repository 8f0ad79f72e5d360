"""Accuracy of a knowledge base on a labelled question set, and calibration of its weight and threshold.

A labelled set (YAML)::

    in_scope:
      - {q: "I'd like a refund", expect: [refund]}      # ids of right answers
    out_of_scope:
      - "what's the weather tomorrow"

An in-scope question counts as right when the best item is one of ``expect`` and scores at
least the threshold; an out-of-scope one when the best score is below the threshold.
Calibration scores every question once, then tries every weight of a grid and every threshold
between two observed scores, and keeps the pair with the best balanced accuracy (mean of the
in-scope accuracy and the out-of-scope rejection rate); ties go to the widest margin.

The lexical fast path (answer from BM25 alone, without embedding the question) gets its level
the same way (:func:`calibrate_fast`): the lowest level at which no validation question (in scope
or not) would be answered wrongly by its best BM25 match, halfway to the next correct one above.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, Field
from tqdm import tqdm

from core.engines.kb.index import KbHit, KnowledgeIndex, RowScores

WEIGHTS = tuple(round(w, 2) for w in np.linspace(0, 1, 21))


class LabelledQuestion(BaseModel):
    q: str = Field(min_length=1)
    expect: list[str] = Field(min_length=1)


class LabelledSet(BaseModel):
    """Questions the knowledge base should answer (with the right ids) and ones it should not."""

    in_scope: list[LabelledQuestion] = Field(min_length=1)
    out_of_scope: list[str] = Field(min_length=1)


def read_set(path: Path) -> LabelledSet:
    """Parse a labelled set file."""
    return LabelledSet.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True, slots=True)
class Report:
    """How a weight and threshold do on a labelled set."""

    weight: float
    threshold: float
    in_scope_accuracy: float
    out_of_scope_rejection: float
    accuracy: float
    misses: tuple[str, ...] = ()
    fast_lexical: float | None = None
    #: share of the questions answered by the lexical fast path
    fast_share: float = 0.0

    @property
    def balanced(self) -> float:
        return (self.in_scope_accuracy + self.out_of_scope_rejection) / 2


@dataclass(frozen=True, slots=True)
class Scored:
    """Row scores of every question of a set (computed once, recombined per weight)."""

    inside: list[tuple[LabelledQuestion, RowScores]]
    outside: list[tuple[str, RowScores]]


def score_set(index: KnowledgeIndex, labelled: LabelledSet, progress: bool | None = None) -> Scored:
    """Score every question (blocking; embeds each one)."""
    total = len(labelled.in_scope) + len(labelled.out_of_scope)
    with tqdm(total=total, desc="scoring questions", unit="q", disable=progress is False if progress is not None else None) as bar:
        inside = []
        for lq in labelled.in_scope:
            inside.append((lq, index.row_scores(lq.q)))
            bar.update(1)
        outside = []
        for q in labelled.out_of_scope:
            outside.append((q, index.row_scores(q)))
            bar.update(1)
    return Scored(inside, outside)


def _fast(index: KnowledgeIndex, rows: RowScores, fast_lexical: float | None) -> KbHit | None:
    """The lexical fast path's answer for a scored question, or None when it does not apply."""
    if fast_lexical is None or not rows.lexical.size or float(rows.lexical.max()) < fast_lexical:
        return None
    return index.rank(RowScores(np.zeros_like(rows.lexical), rows.lexical), 0.0, top=1)[0]


def _tops(
    index: KnowledgeIndex, scored: Scored, weight: float, fast_lexical: float | None = None
) -> tuple[list[tuple[bool, float, str]], list[float]]:
    """Per in-scope question (right item?, score, description); per out-of-scope question its score.

    A question taken by the fast path scores ``inf`` (it is answered whatever the threshold).
    """
    inside = []
    for lq, rows in scored.inside:
        fast = _fast(index, rows, fast_lexical)
        best = fast or index.rank(rows, weight, top=1)[0]
        score = math.inf if fast else best.score
        inside.append((best.item.id in lq.expect, score, f"{lq.q!r} -> {best.item.id} ({best.score:.3f}{', fast' if fast else ''})"))
    outside = [math.inf if _fast(index, rows, fast_lexical) else index.rank(rows, weight, top=1)[0].score for _, rows in scored.outside]
    return inside, outside


def report(index: KnowledgeIndex, scored: Scored, weight: float, threshold: float, fast_lexical: float | None = None) -> Report:
    """Accuracy of ``weight``, ``threshold`` and the fast path's level on a scored set."""
    inside, outside = _tops(index, scored, weight, fast_lexical)
    right_in = [ok and s >= threshold for ok, s, _ in inside]
    rejected = [s < threshold for s in outside]
    misses = tuple(desc for (ok, s, desc), r in zip(inside, right_in, strict=True) if not r)
    misses += tuple(f"{q!r} out of scope, answered ({s:.3f})" for (q, _), s in zip(scored.outside, outside, strict=True) if s >= threshold)
    fast = sum(s == math.inf for _, s, _ in inside) + sum(s == math.inf for s in outside)
    return Report(
        weight,
        threshold,
        sum(right_in) / len(right_in),
        sum(rejected) / len(rejected),
        (sum(right_in) + sum(rejected)) / (len(right_in) + len(rejected)),
        misses,
        fast_lexical,
        fast / (len(inside) + len(outside)),
    )


def calibrate_fast(index: KnowledgeIndex, scored: Scored) -> float | None:
    """The fast path's level: above the best BM25 score of every question it would answer wrongly.

    Halfway between that score and the next score of a question it answers rightly; None (no
    fast path) when no question scores above the last wrong one, or without an embedder.
    """
    if index.embedder is None:
        return None
    results: list[tuple[float, bool]] = []
    for lq, rows in scored.inside:
        best = index.rank(RowScores(np.zeros_like(rows.lexical), rows.lexical), 0.0, top=1)[0]
        results.append((float(rows.lexical.max()), best.item.id in lq.expect))
    results += [(float(rows.lexical.max()), False) for _, rows in scored.outside]
    worst_wrong = max((score for score, right in results if not right), default=0.0)
    above = sorted(score for score, right in results if right and score > worst_wrong)
    if not above:
        return None
    return round((worst_wrong + above[0]) / 2, 4)
def calibrate(index: KnowledgeIndex, scored: Scored, weights: tuple[float, ...] = WEIGHTS) -> Report:
    """The weight and threshold with the best balanced accuracy on ``scored``."""
    if index.embedder is None:
        weights = (0.0,)
    best: tuple[float, float, Report] | None = None
    for weight in weights:
        inside, outside = _tops(index, scored, weight)
        values = sorted({round(s, 6) for _, s, _ in inside} | {round(s, 6) for s in outside})
        candidates = [(a + b) / 2 for a, b in itertools.pairwise(values)] or values
        for i, t in enumerate(candidates):
            right_in = sum(ok and s >= t for ok, s, _ in inside) / len(inside)
            rejected = sum(s < t for s in outside) / len(outside)
            balanced = (right_in + rejected) / 2
            margin = values[i + 1] - values[i] if i + 1 < len(values) else 0.0
            if best is None or (balanced, margin) > (best[0], best[1]):
                best = (balanced, margin, Report(weight, round(t, 4), right_in, rejected, 0.0))
    assert best is not None
    return report(index, scored, best[2].weight, best[2].threshold)
