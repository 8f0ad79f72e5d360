"""Helpers of the real-browser tests: open the chat page, type, collect what the page reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}

needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
        reason=f"{CHROMIUM} is not installed (apt-get install chromium); required when CI=true",
    ),
]


async def open_chat(browser: Any, url: str, **context_args: Any) -> tuple[Any, list[str]]:
    """A new page on ``url``, online; the list collects page errors, dialogs and failed loads (404s)."""
    context = await browser.new_context(**context_args)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog opened: {dialog.message}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    await page.goto(url)
    await page.wait_for_selector('#status[data-state="online"]', timeout=10_000)
    return page, errors


async def say(page: Any, text: str) -> None:
    """Type ``text`` in the box and press Enter."""
    await page.fill("#input", text)
    await page.press("#input", "Enter")
