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
    assert main(["--config", str(cfg), "check"]) == 0
    out = capsys.readouterr().out
    assert "engine faq" in out and "FAILED" in out and "cannot read" in out
    assert "engine echo       ok" in out
    assert "adapter telegram  off: no token: disabled" in out
    assert "result: OK" in out


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
