"""Turn reply text into something a TTS engine can read aloud safely.

``prepare_text`` strips markdown and code, reads URLs as a short word, drops emoji,
expands a few things that read badly, removes control characters and everything that
could become markup (``<``, ``>``, ``&``), and caps the length at a sentence end.
``detect_language`` tells scripts apart (Han, kana, Hangul, Cyrillic, ...) so a
Chinese reply goes to a Chinese voice.
"""

from __future__ import annotations

import re
import unicodedata

_CODE_FENCE = re.compile(r"```.*?(```|$)|~~~.*?(~~~|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]{0,80})`")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_TAG = re.compile(r"</?[A-Za-z!?/][^<>]{0,200}>")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_QUOTE = re.compile(r"^\s{0,3}>+\s?", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+", re.MULTILINE)
_RULE = re.compile(r"^\s*([-*_=])\s*(\1\s*){2,}$", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~)(?=\S)(.+?)(?<=\S)\1")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)")
_TABLE_PIPE = re.compile(r"\s*\|\s*")
_REPEATED_PUNCT = re.compile(r"([!?.,;:。！？])\1{2,}")
_SYMBOL_RUN = re.compile(r"[-=_*#~^|\\/+]{3,}")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_NEWLINES = re.compile(r"\s*\n\s*")
_SENTENCE_END = re.compile(r"[.!?;。！？](?=\s|$)")

_EXPANSIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\be\.g\.", re.IGNORECASE), "for example"),
    (re.compile(r"\bi\.e\.", re.IGNORECASE), "that is"),
    (re.compile(r"\betc\.", re.IGNORECASE), "et cetera."),
    (re.compile(r"\bvs\.?(?=\s)", re.IGNORECASE), "versus"),
    (re.compile(r"\bw/(?=\s)"), "with"),
    (re.compile(r"\s&\s"), " and "),
    (re.compile(r"(?<=\d)\s?%"), " percent"),
    (re.compile(r"<=|=<|≤"), " at most "),
    (re.compile(r">=|=>|≥"), " at least "),
    (re.compile(r"(?<=\s)<(?=\s)"), " less than "),
    (re.compile(r"(?<=\s)>(?=\s)"), " greater than "),
)

# Characters that can start markup in SSML/XML; after the expansions above they are dropped.
_MARKUP_CHARS = str.maketrans({"<": " ", ">": " ", "&": " and "})

_SCRIPTS: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("ja", ((0x3040, 0x30FF),)),  # kana decides Japanese even with Han present
    ("ko", ((0xAC00, 0xD7AF), (0x1100, 0x11FF))),
    ("zh", ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF))),
    ("ru", ((0x0400, 0x04FF),)),
    ("el", ((0x0370, 0x03FF),)),
    ("ar", ((0x0600, 0x06FF),)),
    ("he", ((0x0590, 0x05FF),)),
    ("th", ((0x0E00, 0x0E7F),)),
    ("hi", ((0x0900, 0x097F),)),
)


def _is_emoji_or_symbol(ch: str) -> bool:
    cat = unicodedata.category(ch)
    if cat == "So" or cat == "Sk" and ord(ch) > 0x2000:
        return True
    code = ord(ch)
    # variation selectors, skin tones, zero-width joiner, regional indicators, tags
    return (
        0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or code == 0x200D
        or 0x1F1E6 <= code <= 0x1F1FF
        or 0xE0020 <= code <= 0xE007F
    )


def _clean_char(ch: str) -> str:
    if ch in "\n\t":
        return ch
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        return " " if cat in ("Cc", "Zl", "Zp") else ""
    if _is_emoji_or_symbol(ch):
        return " "
    return ch


def _strip_markdown(text: str) -> str:
    text = _CODE_FENCE.sub(" ", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub(" link ", text)
    text = _EMAIL.sub(" email address ", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = _RULE.sub(" ", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    for _ in range(2):  # nested emphasis such as ***bold italic***
        text = _EMPHASIS.sub(r"\2", text)
        text = _UNDERSCORE_EMPHASIS.sub(r"\2", text)
    return _TABLE_PIPE.sub(", ", text) if "|" in text else text


def _end_lines_as_sentences(text: str) -> str:
    """Each line (heading, list item) becomes a sentence so it is read with a pause."""
    lines = [line.strip() for line in text.split("\n")]
    out = []
    for line in lines:
        if not line:
            continue
        if not re.search(r"[.!?;:,。！？：，]$", line):
            line += "." if line.isascii() else "。" if _is_cjk(line[-1]) else "."
        out.append(line)
    return " ".join(out)


def _is_cjk(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for _, ranges in _SCRIPTS[:3] for lo, hi in ranges)


def cap_length(text: str, max_chars: int) -> str:
    """Cut ``text`` to at most ``max_chars``, at the last sentence end (else word) that fits."""
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= max_chars // 3:
        return head[: ends[-1]].strip()
    space = head.rfind(" ")
    cut = head[:space] if space >= max_chars // 3 else head[: max_chars - 1]  # room for the "." added
    return cut.rstrip(" ,;:") + "."


def has_speakable(text: str) -> bool:
    """Whether ``text`` has at least one letter or digit."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def prepare_text(text: str, max_chars: int = 2000) -> str:
    """Make reply text safe and pleasant to read aloud.

    Args:
        text: the reply as the dialogue engine wrote it (markdown allowed).
        max_chars: the longest result; longer text is cut at a sentence end.

    Returns:
        Plain text without markup characters, or ``""`` when nothing speakable is left.
    """
    # Cap early (with room for what stripping removes) so 1 MB of text costs little.
    text = text[: max_chars * 8]
    text = unicodedata.normalize("NFC", text)
    text = "".join(_clean_char(ch) for ch in text)
    text = _strip_markdown(text)
    for pattern, words in _EXPANSIONS:
        text = pattern.sub(f" {words} ", text)
    text = text.translate(_MARKUP_CHARS)
    text = _SYMBOL_RUN.sub(" ", text)
    text = _REPEATED_PUNCT.sub(r"\1", text)
    text = _SPACES.sub(" ", text)
    text = _end_lines_as_sentences(text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _SPACES.sub(" ", text).strip()
    if not has_speakable(text):
        return ""
    return cap_length(text, max_chars)


def detect_language(text: str, default: str = "en") -> str:
    """The language a script implies, or ``default`` for Latin script and mixed text.

    Han characters alone count as Chinese; any kana makes it Japanese. A script wins
    when it is at least 30 % of the letters.
    """
    counts: dict[str, int] = {}
    letters = 0
    for ch in text[:2000]:
        if not ch.isalpha():
            continue
        letters += 1
        code = ord(ch)
        for lang, ranges in _SCRIPTS:
            if any(lo <= code <= hi for lo, hi in ranges):
                counts[lang] = counts.get(lang, 0) + 1
                break
    if not letters or not counts:
        return default
    if counts.get("ja"):
        counts["ja"] += counts.pop("zh", 0)
    lang, n = max(counts.items(), key=lambda kv: kv[1])
    return lang if n / letters >= 0.3 else default
