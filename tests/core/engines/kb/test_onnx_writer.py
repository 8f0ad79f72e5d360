"""The ONNX writer: graphs it writes load in onnxruntime and compute what numpy does."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from core.engines.kb import onnx_writer as ox


def _run(model: bytes, **inputs: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return list(session.run(None, inputs))


def test_a_written_graph_runs_with_initializers_attributes_and_free_dims() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    gamma, beta = np.full(3, 2.0, np.float32), np.full(3, 0.5, np.float32)
    model = ox.model(
        [
            ox.node("MatMul", ["x", "w"], ["xw"]),
            ox.node("LayerNormalization", ["xw", "gamma", "beta"], ["ln"], axis=-1, epsilon=1e-5),  # a float attribute
            ox.node("Transpose", ["ln"], ["t"], perm=[1, 0]),  # ints
            ox.node("Gelu", ["t"], ["y"], domain="com.microsoft"),  # another domain
        ],
        [ox.tensor("w", w), ox.tensor("gamma", gamma), ox.tensor("beta", beta)],
        [ox.value_info("x", ox.FLOAT, ["rows", 4])],
        [ox.value_info("y", ox.FLOAT, [3, "rows"])],
        {"": 17, "com.microsoft": 1},
    )
    x = rng.standard_normal((5, 4)).astype(np.float32)
    (y,) = _run(model, x=x)
    xw = x @ w
    ln = (xw - xw.mean(1, keepdims=True)) / np.sqrt(xw.var(1, keepdims=True) + 1e-5) * 2.0 + 0.5
    from math import erf

    expected = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / np.sqrt(2))))(ln.T)
    assert y.shape == (3, 5) and np.allclose(y, expected, atol=1e-4)


def test_integer_tensors_and_large_varints_round_trip() -> None:
    big = np.arange(300, dtype=np.int64) * 1_000_003  # dims and values past one varint byte
    model = ox.model(
        [ox.node("Add", ["x", "c"], ["y"])],
        [ox.tensor("c", big)],
        [ox.value_info("x", ox.INT64, [300])],
        [ox.value_info("y", ox.INT64, [300])],
        {"": 17},
    )
    (y,) = _run(model, x=np.full(300, -1, dtype=np.int64))
    assert np.array_equal(y, big - 1)
