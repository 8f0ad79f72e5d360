"""The knowledge-base (FAQ) engine: answers listed questions when the match is confident.

The YAML file::

    threshold: 0.55          # optional, overrides the config value
    entries:
      - questions: ["How do I reset my password?", "forgot my password"]
        answer: "Open Settings > Account > Reset password."
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from core.engine import Conversation, DialogueEngine
from core.engines.tokens import match_tokens
from core.errors import EngineUnavailable, NoAnswer


class FaqEntry(BaseModel):
    """One answer and the ways people ask for it."""

    questions: list[str] = Field(min_length=1)
    answer: str = Field(min_length=1)


class FaqFile(BaseModel):
    """The knowledge-base file."""

    threshold: float | None = Field(default=None, ge=0, le=1)
    entries: list[FaqEntry] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """The best entry for a question and how sure we are (cosine similarity, 0..1)."""

    entry: FaqEntry
    question: str
    confidence: float


class FaqEngine(DialogueEngine):
    """TF-IDF cosine similarity between the message and every listed question."""

    name = "faq"

    def __init__(self, path: str | Path | None = None, threshold: float = 0.5, entries: list[FaqEntry] | None = None) -> None:
        self.path = Path(path) if path else None
        self.threshold = threshold
        self.entries = list(entries or [])
        self._questions: list[tuple[int, str, dict[str, float], float]] = []
        self._idf: dict[str, float] = {}

    async def start(self) -> None:
        if self.path is not None and not self.entries:
            await asyncio.to_thread(self._load)
        if not self.entries:
            raise EngineUnavailable("knowledge base is empty")
        self._build()

    def _load(self) -> None:
        assert self.path is not None
        try:
            raw = yaml.safe_load(self.path.read_text(encoding="utf-8"))
            kb = FaqFile.model_validate(raw)
        except OSError as exc:
            raise EngineUnavailable(f"cannot read knowledge base {self.path}: {exc}") from exc
        except (yaml.YAMLError, ValidationError) as exc:
            raise EngineUnavailable(f"invalid knowledge base {self.path}: {exc}") from exc
        self.entries = kb.entries
        if kb.threshold is not None:
            self.threshold = kb.threshold

    def _build(self) -> None:
        docs = [(i, q, Counter(match_tokens(q))) for i, e in enumerate(self.entries) for q in e.questions]
        df: Counter[str] = Counter()
        for _, _, tf in docs:
            df.update(tf.keys())
        n = len(docs)
        self._idf = {t: math.log((1 + n) / (1 + c)) + 1 for t, c in df.items()}
        self._questions = []
        for i, q, tf in docs:
            vec = {t: c * self._idf[t] for t, c in tf.items()}
            self._questions.append((i, q, vec, math.sqrt(sum(v * v for v in vec.values())) or 1.0))

    def match(self, text: str) -> FaqMatch | None:
        """The most similar listed question, whatever the confidence."""
        tf = Counter(match_tokens(text))
        if not tf:
            return None
        default_idf = max(self._idf.values(), default=1.0)
        vec = {t: c * self._idf.get(t, default_idf) for t, c in tf.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        best: FaqMatch | None = None
        for i, q, qvec, qnorm in self._questions:
            dot = sum(w * qvec.get(t, 0.0) for t, w in vec.items())
            score = dot / (norm * qnorm)
            if best is None or score > best.confidence:
                best = FaqMatch(self.entries[i], q, score)
        return best

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        found = self.match(conversation.text)
        if found is None or found.confidence < self.threshold:
            conf = f"{found.confidence:.2f}" if found else "0"
            raise NoAnswer(f"best match {conf} below threshold {self.threshold:.2f}")
        yield found.entry.answer
