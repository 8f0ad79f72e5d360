"""Text rules of Discord: 2,000-character messages, split on natural boundaries; no accidental mass mentions."""

from __future__ import annotations

import re

from core.textsplit import split_text as _split

LIMIT = 2000
_MASS = re.compile(r"@(everyone|here)")


def neutralize(text: str) -> str:
    """Break ``@everyone`` and ``@here`` with a zero-width space (AllowedMentions.none() also applies)."""
    return _MASS.sub("@\u200b\\1", text)


def split_text(text: str, limit: int = LIMIT) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters (2,000 on Discord)."""
    return _split(text, limit)


def preview(text: str, limit: int = LIMIT) -> str:
    """What a streamed message shows while text arrives: the first message's worth."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return split_text(text, limit - 2)[0] + " …"
