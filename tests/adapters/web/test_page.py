"""The web chat page as people expect it (issue 17), in a real headless Chromium, desktop and phone."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.web.adapter import WebAdapter
from adapters.web.config import WebConfig
from core.engine import Conversation, DialogueEngine
from core.engines.echo import EchoEngine
from core.errors import SpeechError
from core.model import VoiceClip
from core.speech import Speech, VoiceSettings
from tests.adapters.web.harness import MemoryEngine, running_bot
from tests.adapters.web.pages import PHONE, needs_chromium, open_chat, say

pytestmark = needs_chromium

CJK = re.compile(r"[\u4e00-\u9fff]")


class NoteSpeech(Speech):
    """Speaks every reply as ``note``; text with Chinese characters fails (no Chinese voice reachable)."""

    def __init__(self, note: VoiceClip) -> None:
        self.note = note

    async def voice_note(self, text: str, settings: VoiceSettings) -> VoiceClip:
        if CJK.search(text):
            await asyncio.sleep(0.2)
            raise SpeechError("no reachable voice for zh")
        return self.note

    async def voice_channel_frames(self, text, settings):  # type: ignore[no-untyped-def, override]
        raise SpeechError("not used by the web chat")
        yield b""  # pragma: no cover


class Echo(DialogueEngine):
    """Says exactly what it heard (Markdown included)."""

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        yield conversation.text


async def replies(page: Any, n: int) -> None:
    await page.wait_for_function("n => document.querySelectorAll('.msg.bot:not(.streaming)').length >= n", arg=n)


async def voice_on(page: Any) -> None:
    await say(page, "/voice on")
    await page.wait_for_selector(".msg.bot >> text=Voice replies are on")


@pytest.mark.parametrize("device", ["desktop", "phone"])
async def test_empty_page_greets_as_the_persona_and_hints_at_voice(browser, device: str) -> None:  # type: ignore[no-untyped-def]
    args = PHONE if device == "phone" else {}
    async with running_bot(Echo(), greeting="Hi, I'm Joe. Ask me anything!") as bot:
        page, errors = await open_chat(browser, bot.url, **args)
        intro = page.locator("#intro")
        assert await intro.is_visible()
        assert await page.locator("#greeting").text_content() == "Hi, I'm Joe. Ask me anything!"
        hint = await page.locator("#hint").text_content() or ""
        assert "/voice on" in hint and "microphone" in hint
        box = await intro.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= (390 if device == "phone" else 1280)
        await say(page, "hello")
        await replies(page, 1)
        assert await intro.is_hidden()
        assert errors == []


async def test_voice_bubble_duration_waveform_speed_one_at_a_time_and_autoplay(browser, voice_note: VoiceClip) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(Echo(), speech=NoteSpeech(voice_note)) as bot:
        page, errors = await open_chat(browser, bot.url, **PHONE)
        await voice_on(page)
        await say(page, "first")
        first = page.locator(".msg.bot .voice").nth(0)
        await first.wait_for()
        # The duration is known before anything is played or fetched: the server sent it.
        assert await first.locator(".time").text_content() == "0:02"  # 1.2 s, rounded up
        assert await page.locator("audio").count() == 0  # no bare <audio controls> in the page
        heights = await first.locator(".bar").evaluate_all("bars => bars.map(b => b.getBoundingClientRect().height)")
        assert len(heights) == 40
        assert min(heights[:15]) > 2 * max(heights[-15:])  # the loud half is drawn high, the quiet half low
        box = await page.locator(".msg.bot.voice-reply").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390  # fits the phone

        speed = first.locator(".speed")
        assert await speed.get_attribute("aria-label") == "Playback speed 1×"
        await speed.click()
        assert await speed.text_content() == "1.5×"

        await first.locator(".play").click()
        await page.wait_for_selector(".voice.playing")
        audio = await first.evaluate_handle("box => box.audio")
        assert await audio.evaluate("a => a.playbackRate") == 1.5
        await page.wait_for_function("a => a.currentTime > 0.1", arg=audio)
        await first.locator(".bar.played").first.wait_for()  # the waveform fills as it plays

        await say(page, "second")
        second = page.locator(".msg.bot .voice").nth(1)
        await second.wait_for()
        await second.locator(".play").click()  # starting the second pauses the first
        await page.wait_for_function("a => a.paused", arg=audio)
        assert await page.locator(".voice.playing").count() == 1
        assert await second.evaluate("box => box.classList.contains('playing')")
        second_audio = await second.evaluate_handle("box => box.audio")
        await page.wait_for_function("a => a.ended || a.paused", arg=second_audio, timeout=10_000)
        await page.wait_for_selector(".voice.playing", state="detached", timeout=10_000)

        await page.click("#autoplay")
        assert await page.get_attribute("#autoplay", "aria-pressed") == "true"
        await say(page, "third")
        third = page.locator(".msg.bot .voice").nth(2)
        await third.wait_for()
        await page.wait_for_function("box => !box.audio.paused || box.audio.ended", arg=await third.element_handle())
        assert errors == []


async def test_voice_replies_survive_a_reload_and_a_server_restart(browser, voice_note: VoiceClip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clips = tmp_path / "clips"
    async with running_bot(Echo(), speech=NoteSpeech(voice_note), clips_dir=clips) as bot:
        page, errors = await open_chat(browser, bot.url)
        await voice_on(page)
        await say(page, "keep me")
        await page.locator(".voice").wait_for()
        url = await page.evaluate("() => JSON.parse(localStorage.getItem('webchat.transcript.' + webchat.session))"
                                  ".find(t => t.voice).voice.url")
        assert url.startswith("/voice/") and len(list(clips.glob("*.ogg"))) == 1

        port = int(bot.url.rsplit(":", 1)[1].strip("/"))
        await bot.adapter.stop()
        bot.adapter = WebAdapter(bot.adapter.adapter_id, bot.bus, WebConfig(port=port), title="Test Bot", clips_dir=clips)
        await bot.adapter.start()

        await page.reload()
        await page.wait_for_selector('#status[data-state="online"]')
        voice = page.locator(".msg.bot .voice")
        assert await voice.count() == 1 and await voice.locator(".time").text_content() == "0:02"
        status = await page.evaluate("u => fetch(u).then(r => r.status)", url)
        assert status == 200
        await voice.locator(".play").click()
        await page.wait_for_function("box => box.audio.currentTime > 0", arg=await voice.element_handle())

        # A clip dropped from the bounded store says so instead of failing silently.
        for file in clips.iterdir():
            file.unlink()
        await bot.adapter.stop()
        bot.adapter = WebAdapter(bot.adapter.adapter_id, bot.bus, WebConfig(port=port), title="Test Bot", clips_dir=clips)
        await bot.adapter.start()
        await page.reload()
        await page.wait_for_selector('#status[data-state="online"]')
        await page.locator(".voice .play").click()
        await page.wait_for_selector(".voice.expired")
        assert await page.locator(".voice .time").text_content() == "expired"
        # The browser logs the 404 of the expired clip, and any request the page made while the server was
        # deliberately down is refused; with the server up a refusal cannot happen, so nothing else is excused.
        assert [e for e in errors if "404" not in e and "ERR_CONNECTION_REFUSED" not in e] == []


async def test_reset_clears_the_page_too_and_the_new_conversation_button_does_the_same(browser) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(MemoryEngine()) as bot:
        page, errors = await open_chat(browser, bot.url)
        await say(page, "apples")
        await page.wait_for_selector(".msg.bot >> text=heard apples")
        await say(page, "/reset")
        await page.wait_for_selector(".msg.bot >> text=forgotten our conversation")
        assert await page.locator(".msg").all_text_contents() == ["Done: I've forgotten our conversation in this chat."]
        await page.reload()
        await page.wait_for_selector('#status[data-state="online"]')
        assert await page.locator(".msg").count() == 1
        await say(page, "pears")
        await page.wait_for_selector(".msg.bot >> text=before: -")  # the bot forgot too

        await page.click("#new-chat")
        await page.wait_for_function("() => document.querySelectorAll('.msg').length === 1")
        assert "forgotten" in (await page.locator(".msg").text_content() or "")
        await page.reload()
        await page.wait_for_selector('#status[data-state="online"]')
        assert await page.locator(".msg").count() == 1
        assert errors == []


async def test_a_message_over_the_limit_is_marked_not_sent_and_its_text_kept_to_edit(browser) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(Echo(), max_input_chars=40) as bot:
        page, errors = await open_chat(browser, bot.url, **PHONE)
        long = "this message is much too long for the configured limit"
        await say(page, long)
        failed = page.locator(".msg.user.failed")
        await failed.wait_for()
        assert "Not sent" in (await failed.locator(".not-sent").text_content() or "")
        assert await page.input_value("#input") == long
        assert await page.locator(".msg.bot").count() == 0 and await page.locator(".msg.pending").count() == 0
        await page.fill("#input", "short now")
        await page.press("#input", "Enter")
        await page.wait_for_selector(".msg.bot >> text=short now")
        assert errors == []


async def test_failed_voice_ends_the_recording_indicator_at_once_with_a_notice(browser, voice_note: VoiceClip) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(Echo(), speech=NoteSpeech(voice_note)) as bot:
        page, errors = await open_chat(browser, bot.url)
        await voice_on(page)
        started = time.monotonic()
        await say(page, "你好,世界")
        reply = page.locator(".msg.bot").last
        await page.wait_for_selector(".msg.bot .voice-failed", timeout=6_000)
        assert time.monotonic() - started < 6  # the indicator used to stay ~12 s
        assert await page.locator("#typing").is_hidden()
        assert "你好,世界" in (await reply.locator(".body").text_content() or "")
        assert await page.locator(".voice").count() == 0
        assert errors == []


async def test_markdown_links_timestamps_avatar_and_favicon(browser) -> None:  # type: ignore[no-untyped-def]
    text = ("**bold** and *italics* with `code` [the site](https://example.com/a) or https://example.org/x.\n"
            "- one\n- two\n[bad](javascript:alert(1)) <img src=x onerror=\"window.__pwned=1\">")
    async with running_bot(Echo(), config=WebConfig(port=0, title="Joe")) as joe, \
            running_bot(EchoEngine(), config=WebConfig(port=0, title="Ada")) as ada:
        page, errors = await open_chat(browser, joe.url)
        await say(page, text)
        body = page.locator(".msg.bot .body").last
        await body.wait_for()
        assert await body.locator("strong").text_content() == "bold"
        assert await body.locator("em").text_content() == "italics"
        assert await body.locator("code").text_content() == "code"
        assert await body.locator("ul > li").all_text_contents() == ["one", "two"]
        links = await body.locator("a").evaluate_all("as => as.map(a => [a.textContent, a.href, a.rel, a.target])")
        assert links == [
            ["the site", "https://example.com/a", "noopener noreferrer", "_blank"],
            ["https://example.org/x", "https://example.org/x", "noopener noreferrer", "_blank"],
        ]
        assert "[bad](javascript:alert(1))" in (await body.text_content() or "")
        assert await page.locator("#messages img, #messages script").count() == 0
        assert await page.evaluate("typeof window.__pwned") == "undefined"
        assert await page.locator(".msg.user").last.text_content() == text  # the user's own text is never formatted
        stamp = await page.locator(".msg.bot").last.get_attribute("data-time")
        assert stamp and re.fullmatch(r"\d{1,2}:\d{2}( ?[AP]M)?", stamp)

        icon = await page.evaluate("() => fetch('/favicon.ico').then(async r => [r.status, r.headers.get('content-type')])")
        assert icon == [200, "image/x-icon"]
        joe_colour = await page.eval_on_selector("#avatar", "a => getComputedStyle(a).backgroundImage")
        other, _ = await open_chat(browser, ada.url)
        ada_colour = await other.eval_on_selector("#avatar", "a => getComputedStyle(a).backgroundImage")
        assert joe_colour != ada_colour
        assert errors == []  # no console error either: /favicon.ico is no longer a 404


async def test_keyboard_only_use_live_replies_and_every_control_labelled(browser, voice_note: VoiceClip) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(Echo(), speech=NoteSpeech(voice_note)) as bot:
        page, errors = await open_chat(browser, bot.url)
        assert await page.evaluate("document.activeElement.id") == "input"  # type right away
        await page.keyboard.type("/voice on")
        await page.keyboard.press("Enter")
        await page.wait_for_selector(".msg.bot >> text=Voice replies are on")
        await page.keyboard.type("hello keyboard")
        await page.keyboard.press("Enter")
        await page.locator(".voice").wait_for()
        await page.wait_for_function("() => document.getElementById('announce').textContent.includes('Voice reply')")

        # Tab reaches every control, each with a name; Enter plays the voice reply.
        names = []
        for _ in range(12):
            await page.keyboard.press("Tab")
            names.append(await page.evaluate(
                "() => { const e = document.activeElement; return e.getAttribute('aria-label') || e.id; }"))
            if names[-1] == "Play voice reply":
                break
        names = [n for n in names if n]  # from the box, Tab leaves the page once before it starts over
        assert "Record a voice message" in names, names  # the microphone, right after the box
        at = names.index("Play voice replies automatically")
        assert names[at : at + 2] == ["Play voice replies automatically", "New conversation"], names
        assert names[-1] == "Play voice reply"
        await page.keyboard.press("Enter")
        await page.wait_for_selector(".voice.playing")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.getAttribute('role')") == "slider"
        await page.keyboard.press("Home")
        assert (await page.evaluate("document.activeElement.getAttribute('aria-valuetext')")).startswith("0:00 of")

        snapshot = await page.locator("body").aria_snapshot()
        controls = [line.strip() for line in snapshot.splitlines() if re.match(r"\s*- (button|textbox|slider)\b", line)]
        assert controls, snapshot
        unnamed = [c for c in controls if not re.match(r'- (button|textbox|slider) "[^"]+"', c)]
        assert unnamed == [], snapshot
        for name in ("Message", "Send", "Record a voice message", "New conversation", "Play voice replies automatically", "Playback speed 1×",
                     "Position in the voice reply"):
            assert f'"{name}"' in snapshot, snapshot
        assert 'log "Conversation"' in snapshot, snapshot
        assert await page.get_attribute("#announce", "aria-live") == "polite"

        await page.focus("#new-chat")
        await page.keyboard.press("Enter")
        await page.wait_for_function("() => document.querySelectorAll('.msg').length === 1")
        assert errors == []
