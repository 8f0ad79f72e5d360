"""A small Okapi BM25 index over token lists."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np


class BM25Index:
    """BM25 over documents given as token lists; ``search`` returns (doc index, score)."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.n = len(docs)
        self.lengths = [len(d) for d in docs]
        self.avg_len = (sum(self.lengths) / self.n) if self.n else 0.0
        self.postings: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                self.postings[term].append((i, tf))
        self.idf = {
            term: math.log(1 + (self.n - len(p) + 0.5) / (len(p) + 0.5)) for term, p in self.postings.items()
        }
        # Postings as arrays and each document's length norm, so a search is a few numpy operations per term.
        self._docs = {t: np.fromiter((d for d, _ in p), dtype=np.int64, count=len(p)) for t, p in self.postings.items()}
        self._tfs = {t: np.fromiter((f for _, f in p), dtype=np.float64, count=len(p)) for t, p in self.postings.items()}
        lengths = np.asarray(self.lengths, dtype=np.float64)
        self._norm = self.k1 * (1 - self.b + self.b * lengths / (self.avg_len or 1))

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """The BM25 score of every document for ``query`` (float64, one per document)."""
        scores = np.zeros(self.n, dtype=np.float64)
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            docs, tfs = self._docs[term], self._tfs[term]
            scores[docs] += idf * tfs * (self.k1 + 1) / (tfs + self._norm[docs])
        return scores

    def search(self, query: Sequence[str], top: int = 5) -> list[tuple[int, float]]:
        """The ``top`` best documents for ``query``, best first (ties: lower index first)."""
        scores = self.scores(query)
        hit = np.flatnonzero(scores)
        if hit.size > top:
            hit = hit[np.argpartition(-scores[hit], top - 1)[:top]] if top > 0 else hit[:0]
            cut = scores[hit].min() if hit.size else 0.0
            hit = np.flatnonzero(scores >= cut)  # every document tied with the last kept one, for stable ties
        order = np.lexsort((hit, -scores[hit]))[:top]
        return [(int(hit[i]), float(scores[hit[i]])) for i in order]

    def self_score(self, query: Sequence[str]) -> float:
        """The score a document identical to ``query`` would get: the scale for confidences."""
        total = 0.0
        length = len(query)
        norm = self.k1 * (1 - self.b + self.b * length / (self.avg_len or 1))
        for term, tf in Counter(query).items():
            idf = self.idf.get(term, math.log(1 + (self.n + 0.5) / 0.5))
            total += idf * tf * (self.k1 + 1) / (tf + norm)
        return total
