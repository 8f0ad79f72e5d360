"""The knowledge-base index: every FAQ question and document passage, embedded and BM25-indexed.

A message is scored against each row (a listed question, an entry's answer, or a passage) by a weighted sum of
the embedding cosine similarity and the BM25 score scaled by what the message would score
against itself (both about 0..1); an item's score is its best row's. Embeddings of the rows are
cached on disk under a hash of the model name and the row texts, so a changed source (an edited
answer file, a new document) rebuilds the cache and an unchanged one loads in milliseconds.

Embedding the question is nearly all of a lookup's cost (about 1 ms per token on one core; the
rows are one float32 product, BM25 a few numpy operations). With ``fast_lexical`` set (calibrated
on the validation set, see :mod:`core.engines.kb.evaluate`), a question whose best BM25 row reaches it
is answered from the lexical match alone, without embedding it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from core.engines.bm25 import BM25Index
from core.engines.kb.embedders import Embedder
from core.engines.tokens import match_tokens

log = logging.getLogger(__name__)

CACHE_FORMAT = "kb-index-1"


@dataclass(frozen=True, slots=True)
class KbItem:
    """One thing the knowledge base can answer with: a FAQ entry or a document passage."""

    id: str
    kind: Literal["faq", "passage"]
    title: str
    answer: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KbHit:
    """An item and how well it matches: the hybrid score and its two parts (0..1)."""

    item: KbItem
    score: float
    semantic: float
    lexical: float
    matched: str
    #: found by the lexical fast path (BM25 alone reached ``fast_lexical``; the question was not embedded)
    fast: bool = False


@dataclass(frozen=True, slots=True)
class RowScores:
    """Per-row similarity of one message: embedding cosine and scaled BM25."""

    semantic: np.ndarray
    lexical: np.ndarray


class KnowledgeIndex:
    """Hybrid (embedding + BM25) search over knowledge-base items."""

    def __init__(
        self, items: Sequence[KbItem], embedder: Embedder | None, weight: float = 0.7, fast_lexical: float | None = None
    ) -> None:
        if not items:
            raise ValueError("a knowledge index needs at least one item")
        self.items = list(items)
        self.embedder = embedder
        #: share of the embedding similarity in the score (0: BM25 only); 0 without an embedder
        self.weight = weight if embedder is not None else 0.0
        #: scaled BM25 score from which the best lexical match answers without embedding (None: never)
        self.fast_lexical = fast_lexical if embedder is not None else None
        self.rows: list[tuple[int, str, bool]] = []  # (item index, text, embedded as a query?)
        for i, item in enumerate(self.items):
            for key in item.keys:
                self.rows.append((i, key, item.kind == "faq"))
            if item.kind == "faq":
                self.rows.append((i, item.answer, False))
        self._row_item = np.array([r[0] for r in self.rows], dtype=np.int64)
        self.bm25 = BM25Index([match_tokens(text) for _, text, _ in self.rows])
        self.vectors: np.ndarray | None = None
        self.build_s = 0.0
        self.cached = False

    def cache_key(self) -> str:
        """A hash of the model and every row text: changes whenever a source does."""
        h = hashlib.sha256(CACHE_FORMAT.encode())
        h.update((self.embedder.cache_name if self.embedder else "none").encode())
        for _, text, query in self.rows:
            h.update(b"\x00q" if query else b"\x00p")
            h.update(text.encode("utf-8"))
        return h.hexdigest()

    def build(self, cache_dir: Path | None = None, progress: bool | None = None, batch: int = 32) -> None:
        """Embed every row (or load them from ``cache_dir``); ``progress``: a bar (None: on a terminal)."""
        started = time.perf_counter()
        if self.embedder is None:
            self.build_s = time.perf_counter() - started
            return
        cache = cache_dir / f"{self.cache_key()[:24]}.npy" if cache_dir is not None else None
        if cache is not None and cache.exists():
            try:
                vectors = np.load(cache)
                if vectors.shape[0] == len(self.rows):
                    self.vectors, self.cached = vectors, True
                    self.build_s = time.perf_counter() - started
                    return
            except (OSError, ValueError) as exc:
                log.warning("knowledge base cache %s is unreadable (%s); rebuilding", cache, exc)
        parts: list[np.ndarray] = []
        with tqdm(total=len(self.rows), desc=f"knowledge base ({self.embedder.name})", unit="row", disable=progress is False if progress is not None else None) as bar:
            for start in range(0, len(self.rows), batch):
                chunk = self.rows[start : start + batch]
                queries = [text for _, text, q in chunk if q]
                passages = [text for _, text, q in chunk if not q]
                vq = self.embedder.embed(queries, query=True) if queries else None
                vp = self.embedder.embed(passages, query=False) if passages else None
                iq = ip = 0
                for _, _, q in chunk:
                    if q:
                        assert vq is not None
                        parts.append(vq[iq])
                        iq += 1
                    else:
                        assert vp is not None
                        parts.append(vp[ip])
                        ip += 1
                bar.update(len(chunk))
        self.vectors = np.stack(parts).astype(np.float32)
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.with_suffix(".tmp.npy")
                np.save(tmp, self.vectors)
                tmp.replace(cache)
            except OSError as exc:
                log.warning("cannot write the knowledge base cache %s: %s", cache, exc)
        self.build_s = time.perf_counter() - started

    def lexical_scores(self, text: str) -> np.ndarray:
        """Scaled BM25 of ``text`` against every row: score / what ``text`` scores against itself (0..1)."""
        tokens = match_tokens(text)
        if not tokens:
            return np.zeros(len(self.rows), dtype=np.float32)
        scale = self.bm25.self_score(tokens) or 1.0
        return np.minimum(self.bm25.scores(tokens) / scale, 1.0).astype(np.float32)

    def semantic_scores(self, text: str) -> np.ndarray:
        """Embedding cosine of ``text`` against every row (blocking: embeds ``text``; zeros without a model)."""
        if self.embedder is None or self.vectors is None:
            return np.zeros(len(self.rows), dtype=np.float32)
        query = self.embedder.embed_question(text)
        # One float32 matrix-vector product. einsum, not BLAS: a multi-threaded BLAS call of 0.1 ms took
        # 8 ms p50 on two cores shared with other work (its threads wait for a core), one thread does not.
        return np.clip(np.einsum("ij,j->i", self.vectors, query), 0.0, 1.0)

    def row_scores(self, text: str) -> RowScores:
        """Similarity of ``text`` to every row (blocking: embeds ``text``)."""
        return RowScores(self.semantic_scores(text), self.lexical_scores(text))

    def rank(self, scores: RowScores, weight: float | None = None, top: int = 3) -> list[KbHit]:
        """The ``top`` items by hybrid score, best first."""
        w = self.weight if weight is None else weight
        hybrid = w * scores.semantic + (1 - w) * scores.lexical
        best_row: dict[int, int] = {}
        for row in np.argsort(-hybrid, kind="stable"):
            item = int(self._row_item[row])
            if item not in best_row:
                best_row[item] = int(row)
                if len(best_row) >= top:
                    break
        return [
            KbHit(self.items[i], float(hybrid[r]), float(scores.semantic[r]), float(scores.lexical[r]), self.rows[r][1])
            for i, r in best_row.items()
        ]

    def search(self, text: str, top: int = 3) -> list[KbHit]:
        """The ``top`` items for ``text``, best first (blocking).

        When the best lexical row reaches ``fast_lexical``, the items that reach it are returned
        (marked ``fast``) without embedding ``text``; else the hybrid ranking.
        """
        lexical = self.lexical_scores(text)
        if self.fast_lexical is not None and lexical.size and float(lexical.max()) >= self.fast_lexical:
            hits = self.rank(RowScores(np.zeros_like(lexical), lexical), weight=0.0, top=top)
            return [replace(h, fast=True) for h in hits if h.lexical >= self.fast_lexical]
        return self.rank(RowScores(self.semantic_scores(text), lexical), top=top)
