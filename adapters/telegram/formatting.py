"""Reply text for Telegram: safe HTML formatting and splitting at the 4,096-character limit."""

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


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters on natural boundaries."""
    return _split(text, limit)


def preview(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A streamed preview that fits one message (cut with an ellipsis)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
