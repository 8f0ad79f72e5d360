"""JSON for what crosses a process boundary (bus entries, Redis store values): orjson, with the stdlib as fallback.

orjson encodes and parses several times faster than :mod:`json`, which matters on the Redis
bus's hot path (every message and reply is encoded once and parsed once). It refuses what the
stdlib accepts: text holding lone surrogates (hostile or broken input, valid in a Python str),
non-string dict keys and integers beyond 64 bits. Such a value falls back to the stdlib with
ASCII escapes, so it still round-trips and nothing is lost.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_ascii_dumps = json.JSONEncoder(ensure_ascii=True).encode  # json.dumps with an option builds an encoder per call


def dumps(value: Any) -> bytes:
    """``value`` as UTF-8 JSON bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: lone surrogates, non-str keys, huge ints, unknown types
        return _ascii_dumps(value).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ValueError when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # a ValueError: the stdlib reads escaped lone surrogates, orjson does not
        return json.loads(data)
