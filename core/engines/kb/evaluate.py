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
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, Field
from tqdm import tqdm

from core.engines.kb.index import KnowledgeIndex, RowScores

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


def _tops(index: KnowledgeIndex, scored: Scored, weight: float) -> tuple[list[tuple[bool, float, str]], list[float]]:
    inside = []
    for lq, rows in scored.inside:
        best = index.rank(rows, weight, top=1)[0]
        inside.append((best.item.id in lq.expect, best.score, f"{lq.q!r} -> {best.item.id} ({best.score:.3f})"))
    outside = [index.rank(rows, weight, top=1)[0].score for _, rows in scored.outside]
    return inside, outside


def report(index: KnowledgeIndex, scored: Scored, weight: float, threshold: float) -> Report:
    """Accuracy of ``weight`` and ``threshold`` on a scored set."""
    inside, outside = _tops(index, scored, weight)
    right_in = [ok and s >= threshold for ok, s, _ in inside]
    rejected = [s < threshold for s in outside]
    misses = tuple(desc for (ok, s, desc), r in zip(inside, right_in, strict=True) if not r)
    misses += tuple(f"{q!r} out of scope, answered ({s:.3f})" for (q, _), s in zip(scored.outside, outside, strict=True) if s >= threshold)
    return Report(
        weight,
        threshold,
        sum(right_in) / len(right_in),
        sum(rejected) / len(rejected),
        (sum(right_in) + sum(rejected)) / (len(right_in) + len(rejected)),
        misses,
    )


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
