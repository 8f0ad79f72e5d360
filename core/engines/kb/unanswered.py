"""Questions the knowledge base could not answer, appended to a JSON-lines file for the owner."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unanswered:
    """One question nothing in the knowledge base matched, with the best (too weak) candidate."""

    at: float
    question: str
    chat_key: str
    best_id: str
    best_score: float


class UnansweredLog:
    """Append-only JSON lines; ``recent`` reads the newest entries."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _append(self, record: Unanswered) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")

    async def record(self, question: str, chat_key: str = "", best_id: str = "", best_score: float = 0.0) -> None:
        """Append one question; a write failure is logged, never raised (the user still gets the hand-off)."""
        record = Unanswered(time.time(), question, chat_key, best_id, round(best_score, 4))
        try:
            await asyncio.to_thread(self._append, record)
        except OSError as exc:
            log.error("cannot record the unanswered question in %s: %s", self.path, exc)

    def _read(self, limit: int) -> list[Unanswered]:
        if not self.path.exists():
            return []
        out: deque[Unanswered] = deque(maxlen=limit)
        with self._lock, self.path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(Unanswered(**json.loads(line)))
                except (ValueError, TypeError):
                    continue
        return list(out)

    async def recent(self, limit: int = 10) -> list[Unanswered]:
        """The newest ``limit`` questions, oldest first."""
        return await asyncio.to_thread(self._read, limit)
