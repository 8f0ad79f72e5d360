"""Fixtures of the web chat tests."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.adapters.web.pages import CHROMIUM, CHROMIUM_ARGS


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


_BROWSERS = pytest.StashKey[tuple[Any, Any]]()


@pytest.fixture
async def browser(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Debian's chromium, headless, driven by Playwright; on a failure every open page is screenshotted."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        request.node.stash[_BROWSERS] = (asyncio.get_running_loop(), chromium)
        try:
            yield chromium
        finally:
            del request.node.stash[_BROWSERS]
            await chromium.close()


async def _screenshots(chromium: Any, name: str) -> list[str]:
    folder = Path(os.environ.get("WEB_CHAT_FAILURE_DIR") or tempfile.mkdtemp(prefix="webchat-failure-"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for c, context in enumerate(chromium.contexts):
        for p, page in enumerate(context.pages):
            size = page.viewport_size or {"width": 0, "height": 0}
            path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}-{c}-{p}-{size['width']}x{size['height']}.png"
            await page.screenshot(path=str(path), full_page=True, timeout=5_000)
            paths.append(str(path))
    return paths


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed browser test gets a "screenshots" section listing a PNG of every page it had open."""
    report = yield
    held = item.stash.get(_BROWSERS, None)
    if report.when == "call" and report.failed and held is not None:
        loop, chromium = held
        try:
            paths = loop.run_until_complete(_screenshots(chromium, item.name))
            report.sections.append(("screenshots", "\n".join(paths) or "(no page open)"))
        except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the failure
            report.sections.append(("screenshots", f"could not take screenshots: {exc!r}"))
    return report


@pytest.fixture(scope="session")
def voice_note() -> Any:
    """A real 1.2 s voice note made by the voice layer: a loud tone, then near silence, so its waveform
    (the same points Discord's voice messages get) is high in the first half and low in the second."""
    import numpy as np

    from core.model import VoiceClip
    from voice.audio import encode_voice_note, find_ffmpeg
    from voice.pcm import Pcm

    rate = 48_000
    t = np.arange(int(rate * 1.2)) / rate
    level = np.where(t < 0.6, 12_000, 300)
    pcm = Pcm((np.sin(2 * np.pi * 330 * t) * level).astype("<i2").tobytes(), rate)
    note = asyncio.run(encode_voice_note(find_ffmpeg(), pcm, 32, 10_000_000))
    return VoiceClip(note.data, "audio/ogg", note.duration_s, note.waveform, "test", "tone")
