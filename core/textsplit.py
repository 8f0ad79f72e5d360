"""Splitting a long reply into platform-sized messages on natural boundaries."""

from __future__ import annotations

import re
from collections.abc import Callable

Measure = Callable[[str], int]
"""How a platform counts a text's length (``len`` counts code points)."""

_SENTENCE_END = re.compile(r"[.!?;。！？…][\"')\]]*\s")


def _fitting(text: str, limit: int, measure: Measure) -> int:
    """The longest prefix of ``text`` (in code points) whose ``measure`` is at most ``limit``, at least 1."""
    if measure is len:
        return limit
    low, high = 0, min(len(text), limit)  # every code point measures at least 1
    while low < high:
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return max(low, 1)  # a single code point wider than the limit still has to go somewhere


def _cut(text: str, limit: int, measure: Measure = len) -> int:
    """Where to cut ``text`` (longer than ``limit``): a paragraph, line, sentence, word, or hard cut."""
    limit = _fitting(text, limit, measure)
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


def split_text(text: str, limit: int, measure: Measure = len) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters (as ``measure`` counts them).

    Cuts prefer a paragraph break, then a line break, then a sentence end, then a
    space; a run with none of those is cut hard at the limit.

    Args:
        text: the whole reply.
        limit: the platform's maximum message length.
        measure: how the platform counts length; the default counts code points.
            A measure must count every code point as at least 1 and grow with the
            text (Telegram's UTF-16 code units do). Cuts always fall between code
            points, so a piece never ends in half a character.

    Returns:
        Non-empty pieces, in order, whose concatenation equals ``text`` up to
        whitespace at the cuts (an empty text gives an empty list).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while measure(rest) > limit:
        at = _cut(rest, limit, measure)
        piece = rest[:at].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[at:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
