"""Seeded fuzzing of config values and audio bytes: a clear error of the layer's own kind, never a crash."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bots.config import load_config, parse_config
from bots.errors import ConfigError
from tests.fuzz.cases import audio_bytes, config_case
from voice.audio import decode_to_pcm, find_ffmpeg, waveform
from voice.errors import AudioError
from voice.pcm import Pcm

CONFIG_CASES = 1000
AUDIO_CASES = 24


def test_config_with_one_odd_value_validates_or_fails_with_a_config_error(seed: int) -> None:
    rng = random.Random(seed)
    accepted = refused = 0
    for _ in range(CONFIG_CASES):
        case = config_case(rng)
        try:
            parse_config(case.raw, env={"X": "1"})
            accepted += 1
        except ConfigError as exc:
            refused += 1
            assert "config.yaml" in str(exc), (seed, case.path, case.value)
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"seed {seed}: {'.'.join(map(str, case.path))} = {case.value!r} raised {exc!r}")
    assert accepted and refused


def test_config_files_of_random_bytes_fail_with_a_config_error(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "config.yaml"
    for _ in range(100):
        path.write_bytes(rng.choice([rng.randbytes(rng.randint(0, 300)), b"bots: " + rng.randbytes(40), b"- [" * 200, b"a: &x [*x]"]))
        with pytest.raises(ConfigError):
            load_config(path)


async def test_hostile_audio_bytes_decode_or_fail_with_an_audio_error(seed: int) -> None:
    ffmpeg = find_ffmpeg()
    rng = random.Random(seed)
    tone = Pcm(bytes(rng.randrange(256) for _ in range(16000)), 16000)
    from voice.audio import encode_voice_note, polish

    sample = (await encode_voice_note(ffmpeg, polish(tone), 32, 1_000_000)).data
    decoded = failed = 0
    for _ in range(AUDIO_CASES):
        data = audio_bytes(rng, sample)
        try:
            pcm = await decode_to_pcm(ffmpeg, data, 16000)
            decoded += 1
            waveform(Pcm(pcm, 16000))
        except AudioError as exc:
            failed += 1
            assert "ffmpeg exited" in str(exc)
    assert failed  # most mutations are undecodable
    for _ in range(50):  # odd-length and empty PCM never crash the waveform
        waveform(Pcm(rng.randbytes(rng.randint(0, 999)), rng.choice([8000, 16000, 48000])))
