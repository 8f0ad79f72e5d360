"""Reply text for Telegram: safe HTML formatting and splitting at the 4,096-character limit."""

from __future__ import annotations

import html
import re

MAX_MESSAGE_CHARS = 4096

_PRE = re.compile(r"```(?:[a-zA-Z0-9_+-]*\n)?(.+?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")
_SENTENCE_END = re.compile(r"[.!?;。！？…][\"')\]]*\s")


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


def _cut(window: str) -> int:
    """Where to end a chunk inside ``window``: paragraph, line, sentence, word, else the limit."""
    floor = len(window) // 3  # never cut so early that chunks become tiny
    for sep in ("\n\n", "\n"):
        at = window.rfind(sep)
        if at > floor:
            return at + len(sep)
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends and ends[-1] > floor:
        return ends[-1]
    at = window.rfind(" ")
    if at > floor:
        return at + 1
    return len(window)


def split_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters on natural boundaries.

    Args:
        text: the whole reply.
        limit: the platform's maximum message length.

    Returns:
        Non-empty chunks whose concatenation equals ``text`` up to whitespace at the cuts.
    """
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        at = _cut(rest[:limit])
        chunk = rest[:at].rstrip()
        if chunk:
            chunks.append(chunk)
        rest = rest[at:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def preview(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A streamed preview that fits one message (cut with an ellipsis)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
