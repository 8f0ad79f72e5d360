"""The knowledge-base engine: hybrid retrieval, grounded answers, and a hand-off when nothing matches."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Literal

from core.engine import Conversation, DialogueEngine
from core.engines.kb.config import KnowledgeBaseEngineConfig
from core.engines.kb.embedders import EmbedderName, load_embedder
from core.engines.kb.grounding import grounded_conversation
from core.engines.kb.index import KbHit, KnowledgeIndex
from core.engines.kb.source import calibration_path, load_items, read_calibration
from core.engines.kb.unanswered import UnansweredLog
from core.errors import EngineError, EngineUnavailable, NoAnswer

log = logging.getLogger(__name__)

DEFAULT_WEIGHT = 0.7
DEFAULT_THRESHOLD = 0.5


_FOLLOW_UP = re.compile(r"^(and|also|what about|how about|what if|then|so|but|is it|does it|can it|那|还有|那么|如果)\b|\b(it|that|this|they|them)\b", re.IGNORECASE)


def is_follow_up(text: str) -> bool:
    """A short message that leans on the previous question ("and how long does it take?", "那运费呢")."""
    return len(text.split()) <= 8 and len(text) <= 60 and bool(_FOLLOW_UP.search(text.strip()))


class KnowledgeBaseEngine(DialogueEngine):
    """Answers from FAQ entries and document passages; see :class:`KnowledgeBaseEngineConfig`.

    ``llm``: an engine (the OpenAI-compatible one) that writes the answer from the retrieved
    passages; without it the best entry's answer (or the passage's text) is the reply.
    """

    name = "kb"

    def __init__(
        self,
        path: Path | None = None,
        documents: list[Path] | None = None,
        embedder: EmbedderName = "e5",
        threshold: float | None = None,
        weight: float | None = None,
        calibration: Path | None = None,
        fallback: str = "handoff",
        handoff_message: str = "",
        handoff_messages: dict[str, str] | None = None,
        unanswered: UnansweredLog | None = None,
        cache_dir: Path | None = None,
        max_passage_chars: int = 700,
        top_k: int = 3,
        llm: DialogueEngine | None = None,
        fast_lexical: float | Literal["calibrated"] | None = "calibrated",
    ) -> None:
        self.path = path
        self.documents = list(documents or [])
        self.embedder_name: EmbedderName = embedder
        self.threshold = threshold
        self.weight = weight
        self.calibration = calibration or (calibration_path(path) if path is not None else None)
        self.fallback = fallback
        self.handoff_message = handoff_message
        self.handoff_messages = dict(handoff_messages or {})
        self.unanswered = unanswered
        self.cache_dir = cache_dir
        self.max_passage_chars = max_passage_chars
        self.top_k = top_k
        self.llm = llm
        #: BM25 level that answers without embedding: a number, the calibrated one, or None (off)
        self.fast_lexical: float | Literal["calibrated"] | None = fast_lexical
        self.index: KnowledgeIndex | None = None

    @classmethod
    def from_config(
        cls, cfg: KnowledgeBaseEngineConfig, read: Callable[[str], Path] = Path, write: Callable[[str], Path] = Path
    ) -> KnowledgeBaseEngine:
        """Build from config; ``read``/``write`` map config paths to the files to read and to create."""
        llm: DialogueEngine | None = None
        if cfg.llm is not None:
            from core.engines.llm.openai import OpenAIEngine

            llm = OpenAIEngine.from_config(cfg.llm)
        return cls(
            path=read(cfg.path) if cfg.path else None,
            documents=[read(d) for d in cfg.documents],
            embedder=cfg.embedder,
            threshold=cfg.threshold,
            weight=cfg.weight,
            calibration=read(cfg.calibration) if cfg.calibration else None,
            fallback=cfg.fallback,
            handoff_message=cfg.handoff_message,
            handoff_messages=cfg.handoff_messages,
            unanswered=UnansweredLog(write(cfg.unanswered_path)),
            cache_dir=write(cfg.cache_dir),
            max_passage_chars=cfg.max_passage_chars,
            top_k=cfg.top_k,
            llm=llm,
            fast_lexical=cfg.fast_lexical,
        )

    async def start(self) -> None:
        """Load the sources and build (or load the cached) index in a worker thread; start the LLM."""
        self.index = await asyncio.to_thread(self._build)
        if self.llm is not None:
            await self.llm.start()

    def _build(self) -> KnowledgeIndex:
        items, kb = load_items(self.path, self.documents, self.max_passage_chars)
        calibrated = read_calibration(self.calibration, self.embedder_name) if self.calibration else None
        if self.weight is None:
            self.weight = calibrated.weight if calibrated else DEFAULT_WEIGHT
        if self.fast_lexical == "calibrated":
            self.fast_lexical = calibrated.fast_lexical if calibrated else None
        if self.threshold is None:
            if calibrated:
                self.threshold = calibrated.threshold
            elif kb is not None and kb.threshold is not None:
                self.threshold = kb.threshold
            else:
                self.threshold = DEFAULT_THRESHOLD
        index = KnowledgeIndex(items, load_embedder(self.embedder_name), self.weight, self.fast_lexical)
        index.build(self.cache_dir)
        log.info(
            "knowledge base: %d items (%d rows), embedder %s, weight %.2f, threshold %.3f, lexical fast path %s, %s in %.2fs",
            len(items), len(index.rows), self.embedder_name, index.weight, self.threshold,
            f"from {index.fast_lexical:.3f}" if index.fast_lexical is not None else "off",
            "cache loaded" if index.cached else "index built", index.build_s,
        )  # fmt: skip
        return index

    async def stop(self) -> None:
        if self.llm is not None:
            await self.llm.stop()

    def handoff_for(self, language: str) -> str:
        """The hand-off message in ``language`` (``zh-CN`` finds ``zh``), else the default one."""
        return self.handoff_messages.get(language) or self.handoff_messages.get(language.split("-")[0]) or self.handoff_message

    async def search(self, text: str) -> list[KbHit]:
        """The best items for ``text`` (embedding runs in a worker thread)."""
        if self.index is None:
            raise EngineUnavailable("knowledge base is not started")
        return await asyncio.to_thread(self.index.search, text, self.top_k)

    async def lookup(self, conversation: Conversation) -> list[KbHit]:
        """Hits above the threshold, best first (else the best one).

        A follow-up ("and how long does it take?") is looked up together with the user's previous
        message first, and alone when that finds nothing.
        """
        assert self.threshold is not None
        if conversation.turns and is_follow_up(conversation.text):
            previous = next((t.text for t in reversed(conversation.turns) if t.role == "user" and t.text != conversation.text), None)
            if previous:
                joined = await self.search(f"{previous} {conversation.text}")
                if joined and self.answers(joined[0]):
                    return [h for h in joined if self.answers(h)]
        hits = await self.search(conversation.text)
        return [h for h in hits if self.answers(h)] or hits[:1]

    def answers(self, hit: KbHit) -> bool:
        """Whether ``hit`` is good enough to answer with: above the threshold, or found by the lexical fast path."""
        assert self.threshold is not None
        return hit.fast or hit.score >= self.threshold

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        hits = await self.lookup(conversation)
        assert self.threshold is not None
        best = hits[0] if hits else None
        if best is None or not self.answers(best):
            score = best.score if best else 0.0
            if self.fallback == "smalltalk":
                raise NoAnswer(f"best match {score:.2f} below threshold {self.threshold:.2f}")
            log.info("kb: no answer for %s (best %s %.3f); handing off", conversation.chat_key, best.item.id if best else "-", score)
            if self.unanswered is not None:
                await self.unanswered.record(conversation.text, conversation.chat_key, best.item.id if best else "", score)
            yield self.handoff_for(conversation.language)
            return
        if self.llm is not None:
            produced = False
            try:
                async with aclosing(self.llm.reply(grounded_conversation(conversation, hits))) as stream:  # type: ignore[type-var]
                    async for piece in stream:
                        if not produced:
                            conversation.citations.extend(h.item.id for h in hits)
                            log.info("kb: grounded answer from %s (best %.3f)", ",".join(h.item.id for h in hits), best.score)
                        produced = True
                        yield piece
                return
            except (EngineError, NoAnswer) as exc:
                if produced:
                    raise
                log.warning("kb: the grounding model failed (%s); answering with the best entry", exc)
        conversation.citations.append(best.item.id)
        log.info(
            "kb: answered from %s (score %.3f: semantic %.3f, bm25 %.3f%s)",
            best.item.id, best.score, best.semantic, best.lexical, ", lexical fast path" if best.fast else "",
        )  # fmt: skip
        yield best.item.answer
