"""Text preprocessing for the generative model, with NLTK's data-free parts only.

``normalize`` -> ``tokenize`` turn raw chat text into lower-cased word tokens
(NLTK's ``TweetTokenizer``, which needs no downloaded data and keeps emoticons
and contractions whole); :class:`Detokenizer` turns generated tokens back into
text that reads naturally, one piece per token, so a streamed reply and the
full reply are the same string.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from nltk.tokenize import TweetTokenizer

_tweet = TweetTokenizer(preserve_case=False, reduce_len=False, strip_handles=False)

# Curly quotes and similar to their ASCII forms, so "don’t" and "don't" are one token.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"'})
_REPEATS = re.compile(r"(\w)\1{2,}")
_URL = re.compile(r"https?://\S+|www\.\S+")

#: Chat spellings without the apostrophe, to the standard contraction. Words that are
#: also real words ("ill", "well", "were", "hell", "its", "lets", "shell") are left alone.
CONTRACTIONS = {
    "im": "i'm",
    "ive": "i've",
    "id": "i'd",
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "wont": "won't",
    "isnt": "isn't",
    "arent": "aren't",
    "wasnt": "wasn't",
    "werent": "weren't",
    "havent": "haven't",
    "hasnt": "hasn't",
    "hadnt": "hadn't",
    "couldnt": "couldn't",
    "wouldnt": "wouldn't",
    "shouldnt": "shouldn't",
    "thats": "that's",
    "whats": "what's",
    "youre": "you're",
    "youve": "you've",
    "youll": "you'll",
    "theyre": "they're",
    "theyve": "they've",
    "theres": "there's",
    "heres": "here's",
    "wheres": "where's",
    "whos": "who's",
    "hows": "how's",
    "aint": "ain't",
    "yall": "y'all",
    "u": "you",
    "ur": "your",
    "r": "are",
}

# Tokens written without a space before them / after them.
_NO_SPACE_BEFORE = frozenset(".,!?;:%)]}…'") | {"...", "..", "n't", "'s", "'m", "'re", "'ve", "'ll", "'d"}
_NO_SPACE_AFTER = frozenset("([{$#")
_SENTENCE_END = frozenset(".!?…") | {"...", ".."}


def normalize(text: str) -> str:
    """Unicode-normalize, unify quotes, cut character runs to two, mask links, collapse spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _URL.sub(" url ", text)
    text = _REPEATS.sub(r"\1\1", text)
    return " ".join(text.split())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` after :func:`normalize`, with contractions restored."""
    return [CONTRACTIONS.get(tok, tok) for tok in _tweet.tokenize(normalize(text))]


class Detokenizer:
    """Turns tokens into text pieces that join naturally, one piece per token.

    Keeps a little state (start of sentence, open double quote) so it can be fed
    token by token while a reply streams: ``"".join(d.piece(t) for t in toks)``
    equals :func:`detokenize` of the same tokens.
    """

    def __init__(self) -> None:
        self._first = True
        self._sentence_start = True
        self._no_space = False
        self._quote_open = False

    def piece(self, token: str) -> str:
        """The text for ``token``, with its leading space when it needs one."""
        word = token
        if word == "i" or word.startswith("i'"):
            word = "I" + word[1:]
        if self._sentence_start and word[:1].isalpha():
            word = word[0].upper() + word[1:]
        space = not (self._first or self._no_space or token in _NO_SPACE_BEFORE)
        if token == '"':
            # An opening quote takes a space before it, a closing one does not.
            space = space and not self._quote_open
            self._no_space = not self._quote_open
            self._quote_open = not self._quote_open
        else:
            self._no_space = token in _NO_SPACE_AFTER
        if word[:1].isalnum():
            self._sentence_start = False
        if token in _SENTENCE_END:
            self._sentence_start = True
        self._first = False
        return (" " if space else "") + word


def detokenize(tokens: Iterable[str]) -> str:
    """Readable text from tokens: no space before punctuation, capitalized sentences, "I"."""
    d = Detokenizer()
    return "".join(d.piece(t) for t in tokens)
