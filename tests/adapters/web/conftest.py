"""Fixtures of the web chat tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def ogg_clip() -> bytes:
    """Half a second of a 440 Hz tone as OGG/Opus, made with imageio-ffmpeg's ffmpeg."""
    import subprocess

    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
        "-i", "sine=frequency=440:duration=0.5", "-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "32k",
        "-f", "ogg", "pipe:1",
    ]
    return subprocess.run(cmd, check=True, capture_output=True, timeout=30).stdout
