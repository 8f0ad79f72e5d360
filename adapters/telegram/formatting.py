"""Reply text for Telegram: safe HTML formatting and splitting at the 4,096-character limit.

Telegram counts a message's length in UTF-16 code units after entity parsing: an emoji
outside the Basic Multilingual Plane counts 2, so every length here is :func:`utf16_len`.
HTML tags and escapes do not count, which is why the plain text is split before
:func:`to_html` runs.
"""

from __future__ import annotations

import html
import re

from core.textsplit import split_text as _split

MAX_MESSAGE_CHARS = 4096

_PRE = re.compile(r"```(?:[a-zA-Z0-9_+-]*\n)?(.+?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def to_html(text: str) -> str:
    """Escape ``text`` for ``parse_mode=HTML`` and keep the little Markdown engines emit.

    Everything the reply contains is escaped first (``<``, ``>``, ``&``), so only the
    tags made here reach Telegram: ```` ``` ```` blocks become ``<pre>``, `` `x` ``
    becomes ``<code>`` and ``**x**`` becomes ``<b>``.
    """
    out = html.escape(text, quote=False)
    out = _PRE.sub(lambda m: f"<pre>{m.group(1)}</pre>", out)
    out = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", out)
    return _BOLD.sub(lambda m: f"<b>{m.group(1)}</b>", out)


def utf16_len(text: str) -> int:
    """Length of ``text`` as Telegram counts it: UTF-16 code units (a lone surrogate counts 1)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` UTF-16 code units on natural boundaries."""
    return _split(text, limit, measure=utf16_len)


def preview(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A streamed preview that fits one message (cut with an ellipsis, counted in UTF-16 units)."""
    text = text.strip()
    return text if utf16_len(text) <= limit else utf16_prefix(text, limit - 1) + "…"


def utf16_prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` that is at most ``limit`` UTF-16 code units (never half a pair)."""
    units = 0
    for at, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:at]
    return text
