"""Text rules of Discord: 2,000-character messages, split on natural boundaries; no accidental mass mentions."""

from __future__ import annotations

import re

LIMIT = 2000
_SENTENCE_END = re.compile(r"[.!?;。！？](?:[\"')\]]*)\s")
_MASS = re.compile(r"@(everyone|here)")


def neutralize(text: str) -> str:
    """Break ``@everyone`` and ``@here`` with a zero-width space (AllowedMentions.none() also applies)."""
    return _MASS.sub("@\u200b\\1", text)


def _cut(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``): a paragraph, line, sentence, word, or hard cut."""
    window = text[:limit]
    floor = limit // 2  # don't make absurdly short pieces
    for sep in ("\n\n", "\n"):
        at = window.rfind(sep)
        if at >= floor:
            return at + len(sep)
    ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if ends and ends[-1] >= floor:
        return ends[-1]
    at = window.rfind(" ")
    if at >= floor:
        return at + 1
    return limit


def split_text(text: str, limit: int = LIMIT) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters.

    Args:
        text: the reply.
        limit: the platform limit (2,000 on Discord).

    Returns:
        The pieces, in order, none empty (an empty text gives an empty list).
    """
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


def preview(text: str, limit: int = LIMIT) -> str:
    """What a streamed message shows while text arrives: the first message's worth."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return split_text(text, limit - 2)[0] + " …"
