"""The retrieval engine: answers with the response to the most similar known prompt (BM25)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from core.engine import Conversation, DialogueEngine
from core.engines.bm25 import BM25Index
from core.engines.corpus import Pair, load_corpus, pairs_from_file
from core.engines.tokens import match_tokens
from core.errors import EngineUnavailable, NoAnswer

log = logging.getLogger(__name__)


class RetrievalEngine(DialogueEngine):
    """ChatterBot-style retrieval over ``chatterbot-corpus`` (and extra YAML files).

    Args:
        languages: corpus languages to load (``en``, ``zh``...).
        extra_files: more chatterbot-format YAML files (``conversations:`` lists).
        min_confidence: below this (0..1, score relative to a perfect match) it declines.
        pairs: explicit pairs instead of the corpus (tests, evaluation).
    """

    name = "retrieval"

    def __init__(
        self,
        languages: Sequence[str] = ("en", "zh"),
        extra_files: Sequence[str | Path] = (),
        min_confidence: float = 0.15,
        pairs: Sequence[Pair] | None = None,
    ) -> None:
        self.languages = list(languages)
        self.extra_files = [Path(p) for p in extra_files]
        self.min_confidence = min_confidence
        self._given = list(pairs) if pairs is not None else None
        self.pairs: list[Pair] = []
        self._index: dict[str, BM25Index] = {}
        self._rows: dict[str, list[int]] = {}

    async def start(self) -> None:
        if self._index:
            return
        await asyncio.to_thread(self._build)

    def _build(self) -> None:
        pairs = list(self._given) if self._given is not None else load_corpus(self.languages)
        for path in self.extra_files:
            pairs.extend(pairs_from_file(path, self.languages[0] if self.languages else "en"))
        if not pairs:
            raise EngineUnavailable("retrieval engine has no conversation pairs to draw on")
        self.pairs = pairs
        by_lang: dict[str, list[int]] = {}
        for i, pair in enumerate(pairs):
            by_lang.setdefault(pair.language, []).append(i)
        for lang, rows in by_lang.items():
            self._rows[lang] = rows
            self._index[lang] = BM25Index([match_tokens(pairs[i].prompt) for i in rows])
        log.info("retrieval engine: %d pairs in %s", len(pairs), ", ".join(sorted(by_lang)))

    def best(self, text: str, language: str, avoid: Sequence[str] = ()) -> tuple[Pair, float] | None:
        """The best pair for ``text`` and its confidence (0..1), or None."""
        lang = language if language in self._index else next(iter(self._index), None)
        if lang is None:
            return None
        query = match_tokens(text)
        if not query:
            return None
        index, rows = self._index[lang], self._rows[lang]
        hits = index.search(query, top=8)
        if not hits:
            return None
        scale = index.self_score(query) or 1.0
        top_score = hits[0][1]
        # Prefer an equally good answer that was not just said.
        for doc, score in hits:
            if score < top_score * 0.95:
                break
            pair = self.pairs[rows[doc]]
            if pair.response not in avoid:
                return pair, min(1.0, score / scale)
        doc, score = hits[0]
        return self.pairs[rows[doc]], min(1.0, score / scale)

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        if not self._index:
            raise EngineUnavailable("retrieval engine is not started")
        recent_bot = [t.text for t in conversation.turns[-6:] if t.role == "bot"]
        found = self.best(conversation.text, conversation.language, recent_bot)
        if found is None or found[1] < self.min_confidence:
            raise NoAnswer("no similar prompt in the corpus")
        yield found[0].response
