"""The bus's JSON: orjson's output, with the stdlib for what orjson refuses, and the same values back."""

from __future__ import annotations

import json

import pytest

from core import wirejson


@pytest.mark.parametrize(
    "value",
    [
        {"text": "héllo 世界 💬", "n": 3, "f": 0.25, "none": None, "list": [1, "a", True]},
        {"text": "lone \ud800 surrogate"},  # orjson: "str is not valid UTF-8"
        {1: "non-string key"},  # orjson: "Dict key must be str"
        {"big": 2**70},  # orjson: "Integer exceeds 64-bit range"
    ],
)
def test_every_value_the_stdlib_encodes_round_trips(value: object) -> None:
    encoded = wirejson.dumps(value)
    assert isinstance(encoded, bytes)
    assert wirejson.loads(encoded) == json.loads(json.dumps(value))


def test_utf8_text_is_not_escaped() -> None:
    assert wirejson.dumps({"t": "世界"}) == '{"t":"世界"}'.encode()


def test_not_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        wirejson.loads(b"{not json")
    with pytest.raises(ValueError):
        wirejson.loads(b"")
