"""Split text into sentences while it is still arriving.

A sentence ends at ``. ! ? ;`` or ``。！？`` only once the next non-space character has
arrived, so a streamed "$29" + ".99" or "Mr." + " Smith" is never cut. For ASCII
terminators a space must follow (decimals, versions and domains stay whole), and a
period after a known abbreviation or a single initial, or before a lower-case word,
ends nothing. Sentences shorter than ``min_chars`` are joined with the next; a
sentence that runs past ``max_chars`` is cut at its last comma or space so speech can
start. :meth:`SentenceSplitter.flush` returns what is left at the end.

NLTK's Punkt needs trained data for abbreviations and CJK is outside it, so the rules
are written out here (the rule set streaming TTS pipelines use).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

_ASCII_END = ".!?;"
_CJK_END = "。！？；"
_CLOSERS = "\"')]}”’」』）】"
ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "vs",
        "etc",
        "no",
        "nos",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "est",
        "fig",
        "gen",
        "gov",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "approx",
        "appt",
        "apt",
        "ave",
        "blvd",
        "capt",
        "col",
        "lt",
        "sgt",
        "cpl",
        "rev",
        "hon",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "u.s",
        "u.k",
        "ph.d",
        "cf",
        "al",
    ]
)


class SentenceSplitter:
    """Incremental sentence splitter.

    Args:
        min_chars: sentences shorter than this are joined with the next one.
        max_chars: a sentence longer than this is cut at its last comma or space.
    """

    def __init__(self, min_chars: int = 20, max_chars: int = 400) -> None:
        self._min = min_chars
        self._max = max(max_chars, min_chars + 1, 8)
        self._buf = ""
        self._held = ""  # a complete sentence too short to stand alone
        self._scan = 0  # where the next search for a terminator starts

    def feed(self, chunk: str) -> list[str]:
        """Add streamed text; return the sentences it completed (maybe none)."""
        self._buf += chunk
        out: list[str] = []
        while True:
            cut = self._find_boundary()
            if cut is None:
                if len(self._buf) > self._max:
                    cut = self._forced_cut()
                else:
                    break
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
            self._scan = 0
            self._emit(sentence, out)
        return out

    def flush(self) -> list[str]:
        """End of text: return what is left (short leftovers included)."""
        sep = "" if self._held[-1:] in _CJK_END else " "
        rest = sep.join(part for part in (self._held, self._buf.strip()) if part)
        self._held = self._buf = ""
        self._scan = 0
        return [rest] if rest else []

    def _emit(self, sentence: str, out: list[str]) -> None:
        if not sentence:
            return
        sep = "" if self._held[-1:] in _CJK_END else " "
        joined = f"{self._held}{sep}{sentence}" if self._held else sentence
        if _width(joined) < self._min:
            self._held = joined
        else:
            self._held = ""
            out.append(joined)

    def _find_boundary(self) -> int | None:
        buf = self._buf
        i = self._scan
        n = len(buf)
        while i < n:
            ch = buf[i]
            if ch in _ASCII_END or ch in _CJK_END:
                j = i + 1
                while j < n and (buf[j] in _ASCII_END or buf[j] in _CJK_END or buf[j] in _CLOSERS):
                    j += 1
                if j >= n:
                    self._scan = i
                    return None  # wait: the next character decides
                k = j
                while k < n and buf[k].isspace():
                    k += 1
                if k >= n:
                    self._scan = i
                    return None  # only spaces so far: wait for the next non-space
                if ch in _CJK_END or buf[j - 1] in _CJK_END or (j < k and self._ends_sentence(buf, i, ch, buf[k])):
                    return j
                i = j
                continue
            i += 1
        self._scan = n
        return None

    @staticmethod
    def _ends_sentence(buf: str, i: int, ch: str, nxt: str) -> bool:
        if ch != ".":
            return True
        start = i
        while start > 0 and not buf[start - 1].isspace():
            start -= 1
        word = buf[start:i].lstrip("(\"'").lower()
        if word in ABBREVIATIONS:
            return False
        if len(word) == 1 and word.isalpha():
            return False  # an initial: "J. R. R. Tolkien"
        return not nxt.islower()

    def _forced_cut(self) -> int:
        head = self._buf[: self._max]
        for sep in ("，", "、", ",", ":", " "):
            pos = head.rfind(sep)
            if pos >= self._max // 3:
                return pos + 1
        return self._max


def _width(text: str) -> int:
    """Length for the short-sentence rule: a CJK character says about as much as 4 Latin ones."""
    return sum(4 if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" else 1 for ch in text)


def split_sentences(text: str, min_chars: int = 20, max_chars: int = 400) -> list[str]:
    """Split complete text into sentences with the streaming rules."""
    splitter = SentenceSplitter(min_chars, max_chars)
    return splitter.feed(text) + splitter.flush()


async def stream_sentences(
    chunks: AsyncIterator[str] | Iterable[str], min_chars: int = 20, max_chars: int = 400
) -> AsyncIterator[str]:
    """Yield sentences from streamed text as soon as each is complete."""
    splitter = SentenceSplitter(min_chars, max_chars)
    if isinstance(chunks, AsyncIterator):
        async for chunk in chunks:
            for sentence in splitter.feed(chunk):
                yield sentence
    else:
        for chunk in chunks:
            for sentence in splitter.feed(chunk):
                yield sentence
    for sentence in splitter.flush():
        yield sentence
