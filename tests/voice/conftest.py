"""Shared helpers for the voice tests: decoding real audio and a started Piper service."""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator

import numpy as np
import pytest

from voice.audio import decode_to_pcm, find_ffmpeg
from voice.config import VoiceConfig
from voice.service import VoiceService, build_speech


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return find_ffmpeg()


@pytest.fixture
async def piper_service(tmp_path) -> AsyncIterator[VoiceService]:
    """Piper-only service; the model itself is loaded once per process (engines share it)."""
    service = build_speech(VoiceConfig(), cache_dir=tmp_path / "cache")
    async with service:
        yield service


def opus_head(ogg: bytes) -> dict[str, int]:
    """Parse the OpusHead packet of the first Ogg page (RFC 7845 section 5.1)."""
    assert ogg[:4] == b"OggS", "not an Ogg stream"
    pos = ogg.find(b"OpusHead")
    assert 0 < pos < 200, "no OpusHead in the first page"
    version, channels, pre_skip, input_rate = struct.unpack_from("<BBHI", ogg, pos + 8)
    return {"version": version, "channels": channels, "pre_skip": pre_skip, "input_rate": input_rate}


async def decode_ogg(ffmpeg: str, ogg: bytes) -> np.ndarray:
    """Decode OGG/Opus to mono 48 kHz int16 samples with ffmpeg."""
    return np.frombuffer(await decode_to_pcm(ffmpeg, ogg, 48_000), dtype="<i2")


def rms_dbfs(samples: np.ndarray) -> float:
    rms = math.sqrt(float(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
    return 20 * math.log10(rms / 32768) if rms else -math.inf


async def chars(text: str, delay: float = 0.0) -> AsyncIterator[str]:
    """Stream ``text`` one character at a time, like a token stream."""
    for ch in text:
        yield ch
        if delay:
            await asyncio.sleep(delay)
