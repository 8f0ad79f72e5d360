"""The echo engine: answers instantly with the user's own words. For benchmarks and smoke tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from core.engine import Conversation, DialogueEngine


class EchoEngine(DialogueEngine):
    """Repeats the message, optionally split into ``pieces`` streamed pieces."""

    name = "echo"

    def __init__(self, prefix: str = "", pieces: int = 1) -> None:
        self.prefix = prefix
        self.pieces = max(1, pieces)

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        text = f"{self.prefix}{conversation.text}"
        if self.pieces == 1 or len(text) < self.pieces:
            yield text
            return
        size = -(-len(text) // self.pieces)
        for i in range(0, len(text), size):
            yield text[i : i + size]
