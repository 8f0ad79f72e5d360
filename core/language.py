"""Cheap language guessing by script: enough to pick a corpus and a voice."""

from __future__ import annotations

import unicodedata


def is_cjk(ch: str) -> bool:
    """True for Chinese, Japanese kana and Korean hangul characters."""
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x3040 <= code <= 0x30FF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
    )


def guess_language(text: str, default: str = "en") -> str:
    """Return ``zh``, ``ja``, ``ko``, ``ru`` or ``default`` from the script of ``text``."""
    counts = {"zh": 0, "ja": 0, "ko": 0, "ru": 0, "latin": 0}
    for ch in text:
        code = ord(ch)
        if 0x3040 <= code <= 0x30FF:
            counts["ja"] += 1
        elif 0xAC00 <= code <= 0xD7AF:
            counts["ko"] += 1
        elif is_cjk(ch):
            counts["zh"] += 1
        elif 0x0400 <= code <= 0x04FF:
            counts["ru"] += 1
        elif ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"):
            counts["latin"] += 1
    if counts["ja"]:
        return "ja"
    best = max(("zh", "ko", "ru"), key=lambda k: counts[k])
    if counts[best] and counts[best] * 2 >= counts["latin"]:
        return best
    return default
