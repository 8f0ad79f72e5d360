"""The web chat in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from core.engine import Conversation, DialogueEngine
from tests.adapters.web.harness import running_bot
from tests.adapters.web.pages import needs_chromium, open_chat, say

pytestmark = needs_chromium


class GatedEngine(DialogueEngine):
    """Echoes, except ``stream ...`` which waits on two gates so the test can watch each stage."""

    def __init__(self) -> None:
        self.before_first = asyncio.Event()
        self.before_last = asyncio.Event()

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        if conversation.text.startswith("stream"):
            await self.before_first.wait()
            yield "first "
            yield "second "
            await self.before_last.wait()
            yield "third"
            return
        yield conversation.text


async def test_types_a_message_sees_the_streamed_reply_and_keeps_it_after_reload(browser) -> None:  # type: ignore[no-untyped-def]
    engine = GatedEngine()
    async with running_bot(engine) as bot:
        page, errors = await open_chat(browser, bot.url)
        await say(page, "hello browser")
        await page.wait_for_selector(".msg.bot >> text=hello browser")
        assert await page.locator(".msg.user").last.text_content() == "hello browser"

        await say(page, "stream please")
        await page.wait_for_selector("#typing:not([hidden])")
        engine.before_first.set()
        streaming = page.locator(".msg.bot.streaming")
        await streaming.wait_for()
        assert await streaming.text_content() == "first second "
        engine.before_last.set()
        await page.wait_for_selector(".msg.bot >> text=first second third")
        assert await page.locator(".msg.streaming").count() == 0
        assert await page.locator("#typing").is_hidden()

        session = await page.evaluate("window.webchat.session")
        await page.reload()
        await page.wait_for_selector('#status[data-state="online"]')
        assert await page.evaluate("window.webchat.session") == session
        texts = await page.locator(".msg").all_text_contents()
        assert texts == ["hello browser", "hello browser", "stream please", "first second third"]
        assert errors == []


async def test_script_and_img_in_messages_are_shown_as_text_and_run_nothing(browser) -> None:  # type: ignore[no-untyped-def]
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>'
    async with running_bot(GatedEngine()) as bot:
        page, errors = await open_chat(browser, bot.url)
        await say(page, evil)
        reply = page.locator(".msg.bot").last
        await reply.wait_for()
        await page.wait_for_timeout(200)  # give an injected onerror handler time to fire
        assert await reply.text_content() == evil
        assert await page.locator(".msg.user").last.text_content() == evil
        assert await page.locator("#messages img, #messages script, #messages b").count() == 0
        assert await page.evaluate("typeof window.__pwned") == "undefined"
        assert errors == []


async def test_phone_sized_screen_layout(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(GatedEngine()) as bot:
        page, errors = await open_chat(
            browser, bot.url, viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
            has_touch=True,
        )
        for text in ("Hi! How are you?", "A long one: " + "word " * 40, "unbroken" * 30, "/help"):
            await say(page, text)
            await page.wait_for_function(
                "n => document.querySelectorAll('.msg.bot:not(.streaming)').length >= n",
                arg=await page.locator(".msg.user").count(),
            )
        shot = tmp_path / "web-chat-390x844.png"
        await page.screenshot(path=str(shot))
        if target := os.environ.get("WEB_CHAT_SCREENSHOT"):
            shutil.copy(shot, target)
        layout = await page.evaluate(
            """() => {
                const box = (s) => document.querySelector(s).getBoundingClientRect();
                const bubbles = [...document.querySelectorAll('.msg')].map(e => e.getBoundingClientRect());
                return {
                    scrollWidth: document.documentElement.scrollWidth,
                    composer: box('#composer'), input: box('#input'), send: box('#send'), bar: box('#bar'),
                    widest: Math.max(...bubbles.map(b => b.right)), leftmost: Math.min(...bubbles.map(b => b.left)),
                };
            }"""
        )
        assert layout["scrollWidth"] <= 390
        assert layout["bar"]["top"] == 0
        assert layout["composer"]["bottom"] <= 844 and layout["composer"]["top"] > 700
        assert layout["send"]["right"] <= 390 and layout["input"]["width"] > 250
        assert layout["leftmost"] >= 0 and layout["widest"] <= 390
        assert errors == []


async def test_page_reconnects_after_a_server_restart_and_sends_what_was_typed_offline(browser) -> None:  # type: ignore[no-untyped-def]
    from adapters.web.adapter import WebAdapter
    from adapters.web.config import WebConfig

    async with running_bot(GatedEngine()) as bot:
        page, errors = await open_chat(browser, bot.url)
        port = int(bot.url.rsplit(":", 1)[1].strip("/"))
        await bot.adapter.stop()
        await page.wait_for_selector('#status[data-state="offline"]')
        await say(page, "typed while offline")
        assert await page.locator(".msg.user.pending").count() == 1

        bot.adapter = WebAdapter(bot.adapter.adapter_id, bot.bus, WebConfig(port=port), title="Test Bot")
        await bot.adapter.start()
        await page.wait_for_selector('#status[data-state="online"]', timeout=20_000)
        await page.wait_for_selector(".msg.bot >> text=typed while offline")
        assert await page.locator(".msg.user.pending").count() == 0
        assert errors == []
