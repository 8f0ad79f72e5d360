"""``run.py hear`` and the STT part of ``run.py check``, and the config keys they read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.cli import main
from bots.config import parse_config
from bots.errors import ConfigError
from bots.runtime import listen_settings
from tests.spoken import wer

CONFIG = "voice: {engines: [{kind: piper}]}\nbots:\n  - name: x\n    engines: [{kind: echo}]\n"


def test_say_then_hear_round_trip_prints_the_transcript_and_timing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    note = tmp_path / "note.ogg"
    assert main(["--config", str(cfg), "say", "How do I reset my password?", "--out", str(note)]) == 0
    capsys.readouterr()
    assert main(["--config", str(cfg), "hear", str(note)]) == 0
    captured = capsys.readouterr()
    assert wer("How do I reset my password?", captured.out.strip()) <= 0.2, captured.out
    assert "of en speech" in captured.err and "transcribed in" in captured.err and "RTF" in captured.err


def test_hear_explains_a_missing_file_and_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    assert main(["--config", str(cfg), "hear", str(tmp_path / "nope.ogg")]) == 2
    assert "cannot read" in capsys.readouterr().err
    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"definitely not audio" * 10)
    assert main(["--config", str(cfg), "hear", str(junk)]) == 1
    assert "couldn't read that audio" in capsys.readouterr().err


def test_check_reports_the_stt_engines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "voice:\n  enabled: false\n  stt:\n    engines:\n      - {kind: faster-whisper}\n"
        "      - {kind: openai, base_url: 'http://127.0.0.1:9/v1', api_key_env: ''}\n"
        "bots:\n  - name: x\n    engines: [{kind: echo}]\n    adapters: {web: {port: 0}}\n"
    )
    main(["--config", str(cfg), "check"])
    out = capsys.readouterr().out
    stt = out[out.index("speech-to-text:"):]
    assert "engine faster-whisper: ok" in stt and "English only" in stt and "vad on" in stt
    assert "engine openai: FAILED" in stt and "cannot reach http://127.0.0.1:9/v1/audio/transcriptions" in stt


def test_listen_and_stt_config_keys() -> None:
    raw = {
        "voice": {"stt": {"engines": [{"kind": "openai", "base_url": "http://x/v1", "retries": 1}]}},
        "bots": [{"name": "x", "engines": [{"kind": "echo"}],
                  "listen": {"show_transcript": False, "voice_reply": False, "max_duration_s": 30, "max_mb": 2}}],
    }
    config = parse_config(raw)
    assert config.voice.stt.engines[0].kind == "openai"
    settings = listen_settings(config.bots[0])
    assert not settings.show_transcript and not settings.voice_reply
    assert settings.max_duration_s == 30 and settings.max_bytes == 2 * 1024 * 1024
    with pytest.raises(ConfigError, match="listen.max_secs"):
        parse_config({"bots": [{"name": "x", "engines": [{"kind": "echo"}], "listen": {"max_secs": 3}}]})
