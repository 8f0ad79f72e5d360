"""The echo engine: answers with the user's own words, instantly or after a set pause.

For benchmarks and smoke tests: ``delay_s`` stands in for a model's latency (it sleeps,
so it costs no CPU; the generative engine is the CPU-bound case).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from core.engine import Conversation, DialogueEngine


class EchoEngine(DialogueEngine):
    """Repeats the message, optionally split into ``pieces`` streamed pieces."""

    name = "echo"

    def __init__(self, prefix: str = "", pieces: int = 1, delay_s: float = 0.0) -> None:
        self.prefix = prefix
        self.pieces = max(1, pieces)
        self.delay_s = delay_s

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        text = f"{self.prefix}{conversation.text}"
        if self.pieces == 1 or len(text) < self.pieces:
            yield text
            return
        size = -(-len(text) // self.pieces)
        for i in range(0, len(text), size):
            yield text[i : i + size]
