"""Split text into sentences while it is still arriving.

A sentence ends at ``. ! ? ;`` or ``。！？`` only once the next non-space character has
arrived, so a streamed "$29" + ".99" or "Mr." + " Smith" is never cut. For ASCII
terminators a space must follow (decimals, versions and domains stay whole), and a
period after a known abbreviation or a single initial, or before a lower-case word,
ends nothing. Sentences shorter than ``min_chars`` are joined with the next; a
sentence that runs past ``max_chars`` is cut at its last comma or space so speech can
start. :meth:`SentenceSplitter.flush` returns what is left at the end.

A word-aligned stream (every piece after the first begins with a space, as engines that
yield whole words do) does not wait for the next piece: a piece that ends with ``!``,
``?``, ``;`` or a period after a whole word ends the sentence at once, unless the word is
a known abbreviation, an initial or a number ("$29." may go on as ".99"), or the period
is part of an ellipsis. The one thing given up is the lower-case rule for abbreviations
the list does not know ("approxx. five" would be cut). Any other stream, a character or
sub-word token at a time, keeps waiting for the next non-space character.

``first_chars`` shortens the first unit, so the first synthesis is short and playback
starts while the rest is synthesized (what RealtimeTTS calls a fast first fragment): the
first unit is emitted however short, the first sentence is cut at a clause boundary
(``, : — –`` followed by a space) between ``FIRST_MIN_CHARS`` and ``first_chars``, or at
the last word end within ``first_chars`` once it runs past them (see
:meth:`SentenceSplitter._first_fragment_cut`); a part cut at a space gets a comma, so a
voice reads it as a phrase that goes on rather than as a statement. The rest of that
sentence follows at its end, also however short (but a cut that would leave a known rest
under ``FIRST_MIN_CHARS`` is not made); later sentences keep the normal rules.

NLTK's Punkt needs trained data for abbreviations and CJK is outside it, so the rules
are written out here (the rule set streaming TTS pipelines use).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

_ASCII_END = ".!?;"
_CJK_END = "。！？；"
_CLOSERS = "\"')]}”’」』）】"
_CLAUSE_ENDS = ",:—–，、："
FIRST_MIN_CHARS = 10  # a first fragment cut at a clause boundary has at least this many characters
# a first fragment cut at a space does not end with a word that leans on the next one ("the", "is")
_LEANING = frozenset(
    [
        "a", "an", "the", "to", "of", "in", "on", "at", "for", "from", "by", "with", "and", "or", "but", "nor",
        "so", "as", "if", "than", "that", "this", "these", "those", "my", "your", "our", "their", "his", "her",
        "its", "is", "are", "was", "were", "be", "been", "am", "will", "would", "can", "could", "should",
        "shall", "may", "might", "must", "do", "does", "did", "has", "have", "had", "not", "no", "i", "you",
        "we", "they", "he", "she", "it", "there", "here", "very",
    ]
)
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
        first_chars: 0, or the length past which the first sentence is cut at a space
            (see the module docstring).
    """

    def __init__(self, min_chars: int = 20, max_chars: int = 400, first_chars: int = 0) -> None:
        self._min = min_chars
        self._max = max(max_chars, min_chars + 1, 8)
        self._first = max(first_chars, FIRST_MIN_CHARS) if first_chars > 0 else 0
        self._buf = ""
        self._held = ""  # a complete sentence too short to stand alone
        self._scan = 0  # where the next search for a terminator starts
        self._pieces = 0
        self._aligned = True  # every piece after the first began with whitespace
        self._emitted = 0
        self._rest_of_first = False  # the first sentence was cut: its rest goes out however short

    def feed(self, chunk: str) -> list[str]:
        """Add streamed text; return the sentences it completed (maybe none)."""
        if chunk:
            if self._pieces and not chunk[0].isspace():
                self._aligned = False
            self._pieces += 1
        self._buf += chunk
        out: list[str] = []
        while True:
            cut = self._find_boundary()
            fragment = False
            if self._first and not self._emitted and not self._held:
                head = self._first_fragment_cut(len(self._buf) if cut is None else cut)
                if head is not None:
                    cut, fragment = head, True
            if cut is None and len(self._buf) > self._max:
                cut = self._forced_cut()
            if cut is None:
                break
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
            if fragment and sentence[-1:] not in _CLAUSE_ENDS:
                sentence += ","  # cut at a space: read on, not as the end of a statement
            self._scan = 0
            self._emit(sentence, out)
            self._rest_of_first = fragment
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
        quick = self._first and (not self._emitted or self._rest_of_first)
        if _width(joined) < self._min and not quick:
            self._held = joined
        else:
            self._held = ""
            self._emitted += 1
            out.append(joined)

    def _first_fragment_cut(self, end: int) -> int | None:
        """Where to cut the first sentence (``buf[:end]``, maybe unfinished) before its end, if anywhere.

        At its first clause boundary between ``FIRST_MIN_CHARS`` and ``first_chars``; else, when
        it runs past ``first_chars``, at the last word end within them (the first one after, for long words),
        never right after a word that leans on the next one ("the", "is"). In a word-aligned
        stream the end of the last piece is a word end too. When the sentence's end has arrived,
        the rest must have ``FIRST_MIN_CHARS`` too: a word synthesized alone ("garden.") is said
        less clearly (faster-whisper heard "card in").
        """
        buf = self._buf
        # the sentence's end is here (or waits at the end of the text for its confirmation): its rest
        # must not be too short to say well
        known = end < len(buf) or buf.rstrip().rstrip(_CLOSERS)[-1:] in _ASCII_END + _CJK_END

        def rest_ok(pos: int) -> bool:
            return not known or len(buf[pos:end].strip()) >= FIRST_MIN_CHARS

        for pos, ch in enumerate(buf[: min(end, self._first)]):
            if ch not in _CLAUSE_ENDS or pos + 1 < FIRST_MIN_CHARS:
                continue
            if pos + 1 < len(buf) and (buf[pos + 1].isspace() or ch in "，、："):
                if rest_ok(pos + 1):
                    return pos + 1
                break
            if pos + 1 == len(buf) and self._pieces >= 2 and self._aligned:
                return pos + 1  # a word-aligned piece ends with the clause: "1," cannot go on as "000"
        text = buf[:end].rstrip()
        if len(text) <= self._first:
            return None
        word_ends = [pos for pos, ch in enumerate(text) if ch == " "]
        if end == len(buf) and not known and self._pieces >= 2 and self._aligned:
            word_ends.append(len(text))  # a word-aligned stream: the last piece ended a whole word
        spaces = [
            pos
            for pos in word_ends
            if pos >= FIRST_MIN_CHARS and rest_ok(pos) and text[:pos].rsplit(" ", 1)[-1].lower() not in _LEANING
        ]
        within = [pos for pos in spaces if pos <= self._first]
        return within[-1] if within else spaces[0] if spaces else None

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
                    if self._word_ends_sentence(buf, i, j):
                        return j
                    self._scan = i
                    return None  # wait: the next character decides
                k = j
                while k < n and buf[k].isspace():
                    k += 1
                if k >= n:
                    if self._word_ends_sentence(buf, i, j):
                        return j
                    self._scan = i
                    return None  # only spaces so far: wait for the next non-space
                if ch in _CJK_END or buf[j - 1] in _CJK_END or (j < k and self._ends_sentence(buf, i, ch, buf[k])):
                    return j
                i = j
                continue
            i += 1
        self._scan = n
        return None

    def _word_ends_sentence(self, buf: str, i: int, j: int) -> bool:
        """In a word-aligned stream, whether the terminator run ``buf[i:j]`` at the end of a piece ends a sentence."""
        if self._pieces < 2 or not self._aligned or buf[i] not in _ASCII_END:
            return False
        if buf[i] != ".":
            return True
        if "." in buf[i + 1 : j] or (i > 0 and (buf[i - 1].isdigit() or buf[i - 1] == ".")):
            return False  # an ellipsis, or a number that may go on ("$29." + "99")
        return self._ends_sentence(buf, i, ".", "X")

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


def ends_clause(text: str) -> bool:
    """Whether ``text`` ends inside a sentence, at a clause boundary (a first clip cut before its sentence end)."""
    return text.rstrip(_CLOSERS + " ")[-1:] in _CLAUSE_ENDS


def _width(text: str) -> int:
    """Length for the short-sentence rule: a CJK character says about as much as 4 Latin ones."""
    return sum(4 if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" else 1 for ch in text)


def split_sentences(text: str, min_chars: int = 20, max_chars: int = 400) -> list[str]:
    """Split complete text into sentences with the streaming rules."""
    splitter = SentenceSplitter(min_chars, max_chars)
    return splitter.feed(text) + splitter.flush()


async def stream_sentences(
    chunks: AsyncIterator[str] | Iterable[str], min_chars: int = 20, max_chars: int = 400, first_chars: int = 0
) -> AsyncIterator[str]:
    """Yield sentences from streamed text as soon as each is complete (``first_chars``: see the module)."""
    splitter = SentenceSplitter(min_chars, max_chars, first_chars)
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
