"""The command line: config errors, check, train/eval pass-through."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.cli import main


def test_bad_config_exits_2_with_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("bots:\n  - name: x\n    engines: []\n")
    assert main(["--config", str(bad), "check"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: bots.0.engines:" in err


def test_check_reports_engines_and_adapters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "voice: {enabled: false}\n"
        "bots:\n"
        "  - name: x\n"
        "    engines: [{kind: faq, path: nowhere.yaml}, {kind: echo}]\n"
        "    adapters: {web: {port: 0}, telegram: {token: '${NO_SUCH_TOKEN_VAR}'}}\n"
    )
    assert main(["--config", str(cfg), "check"]) == 1  # a configured engine that fails is a problem
    out = capsys.readouterr().out
    assert "engine faq" in out and "FAILED" in out and "cannot read" in out
    assert "engine echo       ok" in out
    assert "adapter telegram  off: no token: disabled (set NO_SUCH_TOKEN_VAR)" in out
    assert "ERROR: engine faq FAILED" in out and "result: 1 error" in out


def test_config_elsewhere_still_finds_shipped_model_and_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "voice: {enabled: false}\n"
        "bots:\n"
        "  - name: x\n"
        "    engines: [{kind: faq, path: examples/support_faq.yaml}, {kind: generative, path: models/chitchat}]\n"
        "    adapters: {web: {port: 0}}\n"
    )
    assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert "engine faq        ok" in out and "engine generative ok" in out


def test_check_fails_when_no_engine_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("voice: {enabled: false}\nbots:\n  - name: x\n    engines: [{kind: faq, path: nowhere.yaml}]\n    adapters: {web: {}}\n")
    assert main(["--config", str(cfg), "check"]) == 1
    assert "this bot cannot answer" in capsys.readouterr().out


def test_train_and_eval_pass_their_arguments_through(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("train", "eval"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert f"run.py {command}" in capsys.readouterr().out


def test_say_with_unknown_voice_lists_voices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("bots:\n  - name: x\n    engines: [{kind: echo}]\n")
    assert main(["--config", str(cfg), "say", "hello", "--voice", "nosuch", "--out", str(tmp_path / "a.ogg")]) == 2
    err = capsys.readouterr().err
    assert "no voice named 'nosuch'" in err and "joe" in err
    assert not (tmp_path / "a.ogg").exists()


def _redis_config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "scale.yaml"
    cfg.write_text(
        f"bus: {{kind: redis, url: '{url}'}}\nstorage: {{kind: redis}}\nvoice: {{enabled: false}}\n"
        "bots:\n  - name: x\n    engines: [{kind: echo}]\n    adapters: {web: {port: 0}}\n"
    )
    return cfg


def test_worker_and_gateway_without_a_redis_bus_exit_2_saying_what_to_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("voice: {enabled: false}\nbots:\n  - name: x\n    engines: [{kind: echo}]\n")
    for role in ("worker", "gateway"):
        assert main([role, "--config", str(cfg)]) == 2
        assert "needs a shared bus: set `bus: {kind: redis" in capsys.readouterr().err


def test_gateway_shards_are_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--config", str(_redis_config(tmp_path, "redis://127.0.0.1:1/0")), "--shards", "0,x"]) == 2
    assert "expected comma-separated shard ids" in capsys.readouterr().err


def test_check_reports_redis_reachable_or_not(tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_server) -> None:  # type: ignore[no-untyped-def]
    assert main(["check", "--config", str(_redis_config(tmp_path, redis_server.url))]) == 0
    out = capsys.readouterr().out
    assert "ok (version" in out and "bus: redis" in out
    redis_server.stop()
    assert main(["check", "--config", str(_redis_config(tmp_path, redis_server.url))]) == 1
    assert "UNREACHABLE" in capsys.readouterr().out


def test_check_reports_discord_voice_libraries(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import discord.opus

    from adapters.discord import voice as discord_voice

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "voice: {enabled: false}\n"
        "bots:\n"
        "  - name: x\n"
        "    engines: [{kind: echo}]\n"
        "    adapters: {web: {port: 0}, discord: {token: '${NO_SUCH_TOKEN_VAR}'}}\n"
    )
    assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    opus = discord.opus.Encoder.get_opus_version()
    assert f"libopus {opus}" in out and "davey 0." in out and "PyNaCl 1." in out

    monkeypatch.setattr(discord_voice, "libopus_version", lambda: None)  # a machine without libopus0
    assert main(["--config", str(cfg), "check"]) == 1
    out = capsys.readouterr().out
    assert "libopus MISSING" in out and "apt-get install libopus0" in out
