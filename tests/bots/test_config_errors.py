"""Config errors people can act on: an unset ${VAR} is named as unset, an unknown key gets "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.config import load_config, parse_config
from bots.errors import ConfigError

ECHO = {"name": "b", "engines": [{"kind": "echo"}]}


def _error(raw: dict, env: dict[str, str] | None = None) -> str:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "c.yaml", env or {})
    return str(info.value)


def test_an_unset_variable_in_a_number_field_is_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("observability: {port: '${METRICS_PORT}'}\nbots:\n  - {name: b, engines: [{kind: echo}]}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = str(info.value)
    assert f"{path}: observability.port: ${{METRICS_PORT}} is not set, so the value is empty" in text
    assert "set METRICS_PORT in the environment or give a default: ${METRICS_PORT:-VALUE}" in text
    assert "valid integer" in text  # pydantic's own words are kept
    assert load_config(path, env={"METRICS_PORT": "9464"}).observability.port == 9464


def test_a_set_but_wrong_variable_or_a_default_is_not_called_unset() -> None:
    text = _error({"observability": {"port": "${P}"}, "bots": [ECHO]}, {"P": "abc"})
    assert "not set" not in text and "valid integer" in text
    text = _error({"observability": {"port": "${P:-x}"}, "bots": [ECHO]})
    assert "not set" not in text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"bots": [{**ECHO, "pipline": {}}]}, "c.yaml: bots.0.pipline: unknown key 'pipline'; did you mean 'pipeline'?"),
        ({"bots": [{"name": "b", "engines": [{"kind": "echo", "prefx": ">"}]}]},
         "c.yaml: bots.0.engines.0.prefx: unknown key 'prefx'; did you mean 'prefix'?"),
        ({"bots": [{**ECHO, "adapters": {"web": {"prot": 1}}}]},
         "c.yaml: bots.0.adapters.web.prot: unknown key 'prot'; did you mean 'port'?"),
        ({"voice": {"cach": {}}, "bots": [ECHO]}, "c.yaml: voice.cach: unknown key 'cach'; did you mean 'cache'?"),
        ({"loging": {}, "bots": [ECHO]}, "c.yaml: loging: unknown key 'loging'; did you mean 'logging'?"),
        ({"bots": [{**ECHO, "adapters": {"telegram": {"token": "t", "webhok": {}}}}]},
         "c.yaml: bots.0.adapters.telegram.webhok: unknown key 'webhok'; did you mean 'webhook'?"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(raw: dict, expected: str) -> None:  # type: ignore[type-arg]
    assert expected in _error(raw)


def test_an_unknown_key_with_nothing_close_lists_the_keys_there() -> None:
    text = _error({"storage": {"zzz": 1}, "bots": [ECHO]})
    assert "storage.zzz: unknown key 'zzz'; the keys here are: " in text and "path" in text
