"""The web chat's microphone in headless Chromium: a fake capture device plays real Piper speech from a WAV file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.engines.faq import FaqEngine
from tests.adapters.web.harness import MemoryEngine, running_bot
from tests.adapters.web.pages import CHROMIUM, needs_chromium, open_chat
from tests.adapters.web.pages import CHROMIUM_ARGS as ARGS

pytestmark = needs_chromium
from tests.spoken import ffmpeg, voice_note, wer

FAQ = Path(__file__).resolve().parents[3] / "examples" / "support_faq.yaml"


@pytest.fixture
async def spoken_wav(speech, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """"What are your opening hours?" as the 48 kHz WAV the fake microphone plays (once, then silence)."""
    note = await voice_note(speech, "What are your opening hours?")
    path = tmp_path / "question.wav"
    path.write_bytes(ffmpeg(["-i", "pipe:0", "-af", "apad=pad_dur=3", "-ac", "1", "-ar", "48000", "-f", "wav",
                             "pipe:1"], note))
    return path


@pytest.fixture
async def mic_browser(spoken_wav: Path) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    fake_mic = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={spoken_wav}%noloop"]
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS + fake_mic)
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_record_button_sends_speech_and_the_bubble_shows_the_transcript(mic_browser, speech, listener) -> None:  # type: ignore[no-untyped-def]
    faq = FaqEngine(FAQ, threshold=0.45)
    async with running_bot(faq, speech=speech, listener=listener) as bot:
        page, errors = await open_chat(mic_browser, bot.url)
        assert await page.locator("#mic-cancel").is_hidden() and await page.locator("#mic-state").is_hidden()
        await page.click("#mic")
        await page.wait_for_selector('#composer[data-recording="on"]')
        assert await page.locator("#input").is_hidden(), "the recording state takes the text box's place"
        assert await page.locator("#mic-state").is_visible() and await page.locator("#mic-cancel").is_visible()
        assert "recording" in (await page.locator("#mic-state").text_content() or "")
        await page.wait_for_timeout(3000)  # the sentence plays, then silence
        await page.click("#mic")
        await page.wait_for_selector('#composer[data-recording="off"]')
        assert await page.locator("#mic-state").is_hidden() and await page.locator("#mic-cancel").is_hidden()
        assert await page.locator("#input").is_visible()
        bubble = page.locator(".msg.user.voice-in")
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.msg.user.voice-in')].some(e => e.textContent.length > 12"
            " && !e.textContent.includes('…'))",
            timeout=30_000,
        )
        heard = (await bubble.last.text_content() or "").removeprefix("🎙 ")
        assert wer("What are your opening hours?", heard) <= 0.25, heard
        await page.wait_for_selector(".msg.bot >> text=Support is staffed Monday to Friday", timeout=30_000)
        await page.locator(".msg.bot .voice").wait_for(timeout=30_000)  # voice in -> voice out
        assert errors == []


async def test_cancel_sends_nothing(mic_browser, listener) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(MemoryEngine(), listener=listener) as bot:
        page, errors = await open_chat(mic_browser, bot.url)
        await page.click("#mic")
        await page.wait_for_selector('#composer[data-recording="on"]')
        await page.wait_for_timeout(800)
        await page.click("#mic-cancel")
        await page.wait_for_selector('#composer[data-recording="off"]')
        await page.wait_for_timeout(1500)
        assert await page.locator(".msg").count() == 0
        assert bot.pipeline.handled == 0
        assert errors == []
