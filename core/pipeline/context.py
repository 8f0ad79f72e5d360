"""What a middleware or command sees while handling one message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.bus import Bus
from core.engine import DialogueEngine, Persona
from core.memory import ChatMemory
from core.model import ChatAction, IncomingMessage, ReplyDone, ReplyTarget, new_reply_id
from core.pipeline.settings import PipelineSettings
from core.speech import Speech
from core.stores.base import ConversationStore, DedupeStore, RateCounter, SettingsStore


@dataclass(frozen=True, slots=True)
class BotServices:
    """Everything the pipeline needs to run one bot."""

    name: str
    persona: Persona
    engine: DialogueEngine
    conversations: ConversationStore
    settings: SettingsStore
    dedupe: DedupeStore
    counter: RateCounter
    speech: Speech | None = None
    config: PipelineSettings = field(default_factory=PipelineSettings)

    @property
    def memory(self) -> ChatMemory:
        """Per-chat facts the users stated (see :mod:`core.memory`), kept in ``settings``."""
        return ChatMemory(self.settings)


@dataclass(slots=True)
class Context:
    """One message being handled, with helpers to answer it."""

    message: IncomingMessage
    services: BotServices
    bus: Bus
    state: dict[str, Any] = field(default_factory=dict)
    answered: bool = False
    #: handed out before to a worker that did not finish it (the bus checked it was not answered)
    redelivered: bool = False

    @property
    def target(self) -> ReplyTarget:
        """Where replies to this message go."""
        m = self.message
        return ReplyTarget(
            destination=m.origin, chat=m.chat, in_reply_to=m.ref, addressed=m.addressed, received_at=m.timestamp
        )

    async def reply(self, text: str, *, notice: bool = False) -> str:
        """Send a complete text reply; returns its reply id."""
        reply_id = new_reply_id()
        await self.bus.send(ReplyDone(reply_id, self.target, text, streamed=False, notice=notice))
        self.answered = True
        return reply_id

    async def action(self, action: str) -> None:
        """Show ``typing`` or ``record_voice``."""
        await self.bus.send(ChatAction(self.target, action))
