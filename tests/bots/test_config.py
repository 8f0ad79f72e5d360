"""config.yaml loading: env substitution, clear errors with file and key path, the shipped file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.config import load_config, parse_config
from bots.envsubst import substitute
from bots.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid_with_no_environment() -> None:
    config = load_config(ROOT / "config.yaml", env={})
    assert [b.name for b in config.bots] == ["companion", "support"]
    companion = config.bots[0]
    assert companion.adapters.web is not None and companion.adapters.web.port == 8080
    assert companion.adapters.telegram is not None
    assert companion.adapters.telegram.token is not None
    assert companion.adapters.telegram.token.get_secret_value() == ""


def test_env_substitution_with_defaults_and_escape() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert substitute("${A}", env) == "1"
    assert substitute("${MISSING}", env) == ""
    assert substitute("${MISSING:-dflt}", env) == "dflt"
    assert substitute("${EMPTY:-dflt}", env) == "dflt"
    assert substitute("x-${A}-$${A}", env) == "x-1-${A}"
    assert substitute({"k": ["${A}", 3]}, env) == {"k": ["1", 3]}


def test_token_from_environment_is_secret() -> None:
    raw = {"bots": [{"name": "b", "engines": [{"kind": "echo"}], "adapters": {"telegram": {"token": "${TG}"}}}]}
    config = parse_config(raw, env={"TG": "123:SECRET"})
    token = config.bots[0].adapters.telegram.token  # type: ignore[union-attr]
    assert token is not None and token.get_secret_value() == "123:SECRET"
    assert "SECRET" not in repr(config)


def test_errors_name_file_key_path_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "bots:\n"
        "  - name: ok\n"
        "    engines: [{kind: faq}]\n"
        "    pipeline: {flood: {per_user: -3}}\n"
        "    adapters: {web: {port: 99999}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert f"{path}: bots.0.engines.0.path: Field required" in text
    assert f"{path}: bots.0.pipeline.flood.per_user:" in text
    assert f"{path}: bots.0.adapters.web.port:" in text


def test_unknown_key_and_engine_kind_are_errors() -> None:
    with pytest.raises(ConfigError, match=r"bots.0.colour: unknown key .colour.; the keys here are: adapters, engines"):
        parse_config({"bots": [{"name": "b", "engines": [{"kind": "echo"}], "colour": "red"}]})
    with pytest.raises(ConfigError, match=r"bots.0.engines.0: unknown engine kind 'gpt9'; known: echo, faq, generative"):
        parse_config({"bots": [{"name": "b", "engines": [{"kind": "gpt9"}]}]})
    with pytest.raises(ConfigError, match=r"unknown engine kind 'retreival' \(did you mean 'retrieval'\?\)"):
        parse_config({"bots": [{"name": "b", "engines": [{"kind": "retreival"}]}]})
    with pytest.raises(ConfigError, match=r"voice.engines.0: unknown TTS engine kind 'pipr' \(did you mean 'piper'\?\)"):
        parse_config({"voice": {"engines": [{"kind": "pipr"}]}, "bots": [{"name": "b", "engines": [{"kind": "echo"}]}]})
    with pytest.raises(ConfigError, match=r"bots.0.adapters: unknown adapter 'telegarm' \(did you mean 'telegram'\?\)"):
        parse_config({"bots": [{"name": "b", "engines": [{"kind": "echo"}], "adapters": {"telegarm": {}}}]})


def test_duplicate_names_and_ports_rejected() -> None:
    bot = {"name": "b", "engines": [{"kind": "echo"}], "adapters": {"web": {"port": 9000}}}
    with pytest.raises(ConfigError, match="repeated: b"):
        parse_config({"bots": [bot, bot]})
    with pytest.raises(ConfigError, match="same address"):
        parse_config({"bots": [bot, {**bot, "name": "c"}]})


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("bots: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_config(["a"])


def test_redis_bus_and_storage_parse_with_env_url() -> None:
    from bots.config import parse_config

    raw = {
        "bus": {"kind": "redis", "url": "${REDIS_URL}", "claim_idle_s": 5},
        "storage": {"kind": "redis"},
        "bots": [{"name": "x", "engines": [{"kind": "echo"}]}],
    }
    config = parse_config(raw, env={"REDIS_URL": "redis://cache:6379/2"})
    assert config.bus.url == "redis://cache:6379/2" and config.bus.claim_idle_s == 5
    assert config.storage.kind == "redis" and config.storage.url is None


def test_discord_shard_ids_need_a_shard_count_and_must_fit_it() -> None:
    from pydantic import ValidationError

    from adapters.discord.config import DiscordConfig

    assert DiscordConfig(shard_count=4, shard_ids=[2, 3]).syncs_commands is False
    assert DiscordConfig(shard_count=4, shard_ids=[0, 1]).syncs_commands is True
    with pytest.raises(ValidationError, match="needs shard_count"):
        DiscordConfig(shard_ids=[0])
    with pytest.raises(ValidationError, match="distinct ids in 0..3"):
        DiscordConfig(shard_count=4, shard_ids=[4])


def test_pipeline_section_is_the_core_settings_value_with_the_bots_voice_defaults() -> None:
    """One definition: the ``pipeline:`` section validates straight into core's PipelineSettings."""
    from bots.runtime import pipeline_settings
    from core.pipeline.settings import AccessRules, FloodLimits, PipelineSettings

    raw = {"bots": [{
        "name": "b", "engines": [{"kind": "echo"}], "voice": {"enabled_by_default": True, "voice": "joe"},
        "pipeline": {"history_turns": 5, "flood": {"per_user": 3}, "access": {"admins": ["t:1"], "admin_commands": ["/reset"]}},
    }]}
    bot = parse_config(raw, env={}).bots[0]
    assert isinstance(bot.pipeline, PipelineSettings)
    settings = pipeline_settings(bot)
    assert settings.history_turns == 5 and settings.flood == FloodLimits(per_user=3)
    assert settings.access == AccessRules(admins=frozenset({"t:1"}), admin_commands=frozenset({"reset"}))
    assert settings.voice_by_default and settings.default_voice == "joe"


@pytest.mark.parametrize(
    ("pipeline", "problem"),
    [
        ({"histroy_turns": 5}, "bots.0.pipeline.histroy_turns"),
        ({"flood": {"window_s": 0}}, "bots.0.pipeline.flood.window_s"),
        ({"voice_by_default": True}, "voice section"),
    ],
)
def test_pipeline_section_refuses_unknown_keys_bad_values_and_voice_keys(pipeline: dict, problem: str) -> None:
    raw = {"bots": [{"name": "b", "engines": [{"kind": "echo"}], "pipeline": pipeline}]}
    with pytest.raises(ConfigError, match=problem):
        parse_config(raw, env={})
