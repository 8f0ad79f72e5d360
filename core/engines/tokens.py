"""Tokenizing and stemming for matching, with NLTK's data-free parts only.

Latin text: ``TweetTokenizer`` (lower-cased) + ``PorterStemmer``; CJK text:
single characters plus character bigrams, since Chinese has no spaces.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

from nltk.stem import PorterStemmer
from nltk.tokenize import TweetTokenizer
from nltk.tokenize.casual import EMOTICON_RE

from core.language import is_cjk

# Case is lowered below, as TweetTokenizer(preserve_case=False) does (emoticons keep theirs), but
# without its emoticon search for tokens that are lower case already (most of them): a third of the
# time of indexing a large corpus went to that search.
_tweet = TweetTokenizer(preserve_case=True, reduce_len=True, strip_handles=True)
#: the ranges of core.language.is_cjk, for one C-level search per token
_CJK = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\u3040-\u30ff\uac00-\ud7af\uf900-\ufaff]")
_stemmer = PorterStemmer()
_word = re.compile(r"\w", re.UNICODE)

# Words so common that matching on them says little; small on purpose.
STOPWORDS = frozenset(
    ["a", "an", "the", "is", "are", "was", "were", "be", "been", "am", "he", "she", "it", "we", "they", "our", "to", "of", "in", "on", "at", "for", "and", "or", "but", "do", "does", "did", "so", "that", "this", "with", "as", "by", "from"]
)


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stem(word)


def normalize(text: str) -> str:
    """NFKC-normalize and collapse whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def match_tokens(text: str, drop_stopwords: bool = True) -> list[str]:
    """Tokens for matching: stems for words, characters and bigrams for CJK runs."""
    out: list[str] = []
    for tok in _tweet.tokenize(normalize(text)):
        lowered = tok.lower()
        if lowered != tok and not EMOTICON_RE.search(tok):
            tok = lowered
        if _CJK.search(tok):
            chars = [c for c in tok if is_cjk(c) or c.isalnum()]
            out.extend(chars)
            out.extend(a + b for a, b in itertools.pairwise(chars))
            continue
        if not _word.search(tok):
            continue
        if drop_stopwords and tok in STOPWORDS:
            continue
        out.append(_stem(tok))
    if not out and drop_stopwords:
        return match_tokens(text, drop_stopwords=False)
    return out
