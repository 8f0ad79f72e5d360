"""A small Okapi BM25 index over token lists."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence


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

    def search(self, query: Sequence[str], top: int = 5) -> list[tuple[int, float]]:
        """The ``top`` best documents for ``query``, best first."""
        scores: defaultdict[int, float] = defaultdict(float)
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for doc, tf in self.postings[term]:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[doc] / (self.avg_len or 1))
                scores[doc] += idf * tf * (self.k1 + 1) / (tf + norm)
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:top]

    def self_score(self, query: Sequence[str]) -> float:
        """The score a document identical to ``query`` would get: the scale for confidences."""
        total = 0.0
        length = len(query)
        norm = self.k1 * (1 - self.b + self.b * length / (self.avg_len or 1))
        for term, tf in Counter(query).items():
            idf = self.idf.get(term, math.log(1 + (self.n + 0.5) / 0.5))
            total += idf * tf * (self.k1 + 1) / (tf + norm)
        return total
