"""Tokens for matching: the fast path of lower-casing and CJK detection changes no token."""

from __future__ import annotations

import itertools

from nltk.tokenize import TweetTokenizer

from core.engines.corpus import load_corpus
from core.engines.generative.data import chitchat_conversations
from core.engines.tokens import STOPWORDS, _stem, _word, match_tokens, normalize
from core.language import is_cjk

_reference_tweet = TweetTokenizer(preserve_case=False, reduce_len=True, strip_handles=True)


def _reference(text: str, drop_stopwords: bool = True) -> list[str]:
    """match_tokens as it was written first: NLTK lowers case, a Python scan finds CJK."""
    out: list[str] = []
    for tok in _reference_tweet.tokenize(normalize(text)):
        if any(is_cjk(c) for c in tok):
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
        return _reference(text, drop_stopwords=False)
    return out


def test_match_tokens_is_unchanged_by_the_faster_case_and_cjk_checks() -> None:
    crafted = [
        "Hello :D I LOVE it 8D", "XD lol :P :p", "Do8 what <3 </3", "İstanbul ÄÖÜ straße", "我想退款 OK?",
        "ｒｅｓｅｔ　ＰＷ", "カタカナ and 한국어", "@Someone CAN you HELP", "sooooo GOOOOD", "The The THE", "",
    ]
    corpus = [p.prompt for p in load_corpus(["en", "zh"])]
    chats = [turn for conv in chitchat_conversations()[:200] for turn in conv]
    texts = crafted + corpus + chats
    assert len(texts) > 5000
    for text in texts:
        assert match_tokens(text) == _reference(text), text
