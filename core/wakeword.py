"""Is a transcribed utterance addressed to the bot? Wake words, checked on the transcript.

A voice channel in ``wake_word`` mode answers only what starts with the bot's name or one of its wake
words ("Joe, what are your opening hours?"), or ends with it after a comma ("What time is it, Joe?").
Speech recognizers vary the details, so the match ignores case, accents and punctuation, allows a
leading greeting ("hey", "ok", "okay", "hi", "hello"), and accepts one wrong letter in a wake word of
five letters or more ("Computor"). What the bot gets is the rest of the sentence::

    >>> find_wake_word("Hey, Joe, what are your opening hours?", ["Joe"]).text
    'what are your opening hours?'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: words a speaker may say before the wake word ("hey Joe", "OK Joe"); "o k" is how "O.K." splits
GREETINGS = frozenset({"hey", "hi", "hello", "ok", "okay", "oi", "yo", "o", "k", "hallo"})
#: wake words this long or longer match with one letter wrong (a shorter one would match other words)
FUZZY_FROM = 5
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_LEADING = " \t\n,.;:!?-–—…\"'“”‘’"


@dataclass(frozen=True, slots=True)
class WakeMatch:
    """A transcript addressed to the bot.

    Attributes:
        wake_word: the configured wake word that matched (as configured).
        text: the transcript without the wake word (and its greeting and punctuation); may be empty
            ("Hey Joe.").
    """

    wake_word: str
    text: str


def normalize(word: str) -> str:
    """Case- and accent-free form of one word (``Zoë`` -> ``zoe``)."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("'", "")


def wake_words_for(name: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The bot's name then the configured wake words, without blanks or duplicates (by normalized form)."""
    seen: set[tuple[str, ...]] = set()
    words: list[str] = []
    for word in (name, *extra):
        key = _tokens(word)
        if key and key not in seen:
            seen.add(key)
            words.append(word.strip())
    return tuple(words)


def find_wake_word(text: str, wake_words: Sequence[str]) -> WakeMatch | None:
    """The wake word ``text`` is addressed with, and the rest of it; None when it is not addressed.

    Args:
        text: a transcript.
        wake_words: the bot's name and its wake words (see :func:`wake_words_for`).
    """
    spans = [(m.start(), m.end(), normalize(m.group())) for m in _WORD.finditer(text)]
    tokens = [token for _, _, token in spans]
    candidates = sorted(((_tokens(w), w) for w in wake_words if _tokens(w)), key=lambda c: -len(c[0]))
    # at the start, after any greetings ("hey", "ok", "O.K.")
    first = 0
    while True:
        for wanted, word in candidates:
            if _matches(tokens[first : first + len(wanted)], wanted):
                end = spans[first + len(wanted) - 1][1]
                return WakeMatch(word, text[end:].lstrip(_LEADING).strip())
        if first < len(tokens) and tokens[first] in GREETINGS:
            first += 1
            continue
        break
    # at the end, after a comma: "What are your opening hours, Joe?"
    for wanted, word in candidates:
        begin = len(tokens) - len(wanted)
        if begin < 1 or not _matches(tokens[begin:], wanted):
            continue
        before = text[spans[begin - 1][1] : spans[begin][0]]
        if "," not in before:
            continue
        head = text[: spans[begin - 1][1]].strip()
        tail = text[spans[-1][1] :].strip(" \t\n,\"'”’")
        return WakeMatch(word, head + tail[:1] if tail[:1] in ("?", "!", ".") else head)
    return None


def _tokens(phrase: str) -> tuple[str, ...]:
    return tuple(normalize(m.group()) for m in _WORD.finditer(phrase))


def _matches(heard: Sequence[str], wanted: Sequence[str]) -> bool:
    return len(heard) == len(wanted) and all(_close(h, w) for h, w in zip(heard, wanted, strict=True))


def _close(heard: str, wanted: str) -> bool:
    """Equal, or one edit apart for a word of :data:`FUZZY_FROM` letters or more."""
    if heard == wanted:
        return True
    if len(wanted) < FUZZY_FROM or abs(len(heard) - len(wanted)) > 1:
        return False
    if len(heard) == len(wanted):
        return sum(a != b for a, b in zip(heard, wanted, strict=True)) == 1
    short, long = sorted((heard, wanted), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
