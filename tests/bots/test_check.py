"""``run.py check``: every problem is a warning or an error, errors exit non-zero, no raw object reprs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bots.check import port_in_use, readable
from bots.cli import main


def _config(tmp_path: Path, port: int, voice: str = "voice: {enabled: false}\n") -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(voice + f"bots:\n  - name: x\n    engines: [{{kind: echo}}]\n    adapters: {{web: {{port: {port}}}}}\n")
    return cfg


def test_a_taken_web_port_is_an_error_with_a_non_zero_exit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert port_in_use("127.0.0.1", port) == "the port is taken by another program"
        assert main(["check", "--config", str(_config(tmp_path, port))]) == 1
        out = capsys.readouterr().out
    assert f"ERROR: web chat cannot listen on 127.0.0.1:{port}: the port is taken" in out
    assert out.rstrip().endswith("result: 1 error")
    assert port_in_use("127.0.0.1", port) is None
    assert main(["check", "--config", str(_config(tmp_path, port))]) == 0
    assert capsys.readouterr().out.rstrip().endswith("result: OK")


def test_a_language_whose_voice_cannot_work_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    voice = (
        "voice:\n  enabled: true\n  languages: {en: [joe], zh: [huayan]}\n"
        "  engines:\n    - kind: piper\n      voices:\n        - {name: joe, language: en}\n"
        f"        - {{name: huayan, language: zh, model: {tmp_path / 'missing.onnx'}}}\n"
    )
    assert main(["check", "--config", str(_config(tmp_path, 0, voice))]) == 0
    out = capsys.readouterr().out
    assert "joe (en): ok" in out
    assert "warning: no working voice for 'zh': replies in that language get text only" in out
    assert out.rstrip().endswith("result: OK (1 warning)")


def test_raw_object_reprs_are_made_readable() -> None:
    raw = "Cannot connect to host speech.platform.bing.com:443 ssl:<ssl.SSLContext object at 0x7f719a5c70b0> [DNS]"
    assert readable(raw) == "Cannot connect to host speech.platform.bing.com:443 ssl:on [DNS]"
    assert readable("got <foo.bar.Baz object at 0xDEADbeef>") == "got Baz"
