"""Splitting a long reply into platform-sized messages on natural boundaries."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?;。！？…][\"')\]]*\s")


def _cut(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``): a paragraph, line, sentence, word, or hard cut."""
    window = text[:limit]
    floor = limit // 3  # never cut so early that pieces become tiny
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
    return limit


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters.

    Cuts prefer a paragraph break, then a line break, then a sentence end, then a
    space; a run with none of those is cut hard at the limit.

    Args:
        text: the whole reply.
        limit: the platform's maximum message length.

    Returns:
        Non-empty pieces, in order, whose concatenation equals ``text`` up to
        whitespace at the cuts (an empty text gives an empty list).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        at = _cut(rest, limit)
        piece = rest[:at].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[at:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
