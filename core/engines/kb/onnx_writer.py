"""A minimal writer of ONNX model files (protobuf wire format), enough to build a graph for onnxruntime.

The ``onnx`` package is not a dependency (onnxruntime runs models but does not build them), and
a graph of a few dozen nodes needs only five message types. Field numbers are those of
``onnx.proto`` (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import numpy as np

#: TensorProto.DataType of the numpy types used here
ELEM_TYPES: dict[np.dtype, int] = {
    np.dtype(np.float32): 1,
    np.dtype(np.uint8): 2,
    np.dtype(np.int8): 3,
    np.dtype(np.int32): 6,
    np.dtype(np.int64): 7,
    np.dtype(np.float16): 10,
}
FLOAT = 1
INT32 = 6
INT64 = 7

# AttributeProto.AttributeType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _key(field, 2) + _varint(len(data)) + data


def _messages(field: int, items: Iterable[bytes]) -> bytes:
    return b"".join(_bytes(field, item) for item in items)


def tensor(name: str, array: np.ndarray) -> bytes:
    """A TensorProto (an initializer): ``array``'s dims, type and little-endian raw data."""
    array = np.ascontiguousarray(array)
    out = b"".join(_int(1, d) for d in array.shape) + _int(2, ELEM_TYPES[array.dtype]) + _bytes(8, name)
    return out + _bytes(9, array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


def _attribute(name: str, value: float | str | Sequence[int]) -> bytes:
    out = _bytes(1, name)
    if isinstance(value, bool | int):
        return out + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, float):
        return out + _key(2, 5) + struct.pack("<f", value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, str):
        return out + _bytes(4, value) + _int(20, _ATTR_STRING)
    return out + b"".join(_int(8, int(v)) for v in value) + _int(20, _ATTR_INTS)


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], domain: str = "", **attrs: float | str | Sequence[int]) -> bytes:
    """A NodeProto: ``op`` (of ``domain``; "" is the standard one) from ``inputs`` to ``outputs``."""
    out = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
    out += _bytes(3, f"{op}_{outputs[0]}") + _bytes(4, op)
    out += _messages(5, (_attribute(k, v) for k, v in attrs.items()))
    return out + (_bytes(7, domain) if domain else b"")


def value_info(name: str, elem_type: int, shape: Sequence[int | str]) -> bytes:
    """A ValueInfoProto: a graph input or output of ``elem_type`` and ``shape`` (a str: a named free dim)."""
    dims = [_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in shape]
    tensor_type = _int(1, elem_type) + _bytes(2, b"".join(dims))
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def model(
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    opsets: dict[str, int],
    name: str = "graph",
    ir_version: int = 8,
) -> bytes:
    """A serialized ModelProto, ready for ``onnxruntime.InferenceSession``."""
    graph = _messages(1, nodes) + _bytes(2, name) + _messages(5, initializers)
    graph += _messages(11, inputs) + _messages(12, outputs)
    out = _int(1, ir_version) + _bytes(2, "core.engines.kb")
    out += _messages(8, (_bytes(1, domain) + _int(2, version) if domain else _int(2, version) for domain, version in opsets.items()))
    return out + _bytes(7, graph)
