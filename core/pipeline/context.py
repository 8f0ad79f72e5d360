"""What a middleware or command sees while handling one message."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from core.bus import Bus, Delivery
from core.commands import CommandSpec
from core.engine import DialogueEngine, Persona
from core.memory import ChatMemory, known_facts
from core.model import ChatAction, IncomingMessage, ReplyDone, ReplyTarget, SkipReason, Turn, new_reply_id
from core.pipeline.settings import PipelineSettings
from core.speech import Speech
from core.stores.base import ConversationStore, DedupeStore, RateCounter, SettingsStore
from core.stt import SpeechToText


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
    #: transcribes spoken messages (None: audio attachments are passed on untouched)
    listener: SpeechToText | None = None
    #: the bot's commands (built-in and plugins'), as ``/help`` lists them; empty: the built-ins
    commands: tuple[CommandSpec, ...] = ()

    @property
    def memory(self) -> ChatMemory:
        """Per-chat facts the users stated (see :mod:`core.memory`), kept in ``settings``."""
        return ChatMemory(self.settings)


@dataclass(frozen=True, slots=True)
class ReadAhead:
    """The chat's history and facts, read as soon as handling a message starts.

    The reads run beside the first middleware's store call (the dedupe claim), so stores that
    batch the calls made together (Redis: one round trip) fetch all three at once. They show the
    chat as it was when handling began: a middleware that changes the chat's history or facts
    before the dialogue handler reads them again itself (``RememberFacts`` uses what ``remember``
    returns).
    """

    history: asyncio.Future[list[Turn]]
    #: the facts as stored (:func:`core.memory.known_facts` of them are the chat's facts)
    facts: asyncio.Future[dict[str, Any]]

    @classmethod
    def start(cls, services: BotServices, chat_key: str) -> ReadAhead:
        """Start both reads: futures the stores resolve, or tasks for stores that need one (see
        :meth:`core.stores.base.ConversationStore.read_recent`)."""
        return cls(
            services.conversations.read_recent(chat_key, services.config.history_turns),
            services.memory.read_stored(chat_key),
        )

    def close(self) -> None:
        """Stop reads still running; a read nobody used and that failed is not reported."""
        for task in (self.history, self.facts):
            if not task.done():
                task.cancel()
            else:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()


@dataclass(slots=True)
class Context:
    """One message being handled, with helpers to answer it."""

    message: IncomingMessage
    services: BotServices
    bus: Bus
    state: dict[str, Any] = field(default_factory=dict)
    answered: bool = False
    #: why a middleware or command deliberately leaves the message unanswered (told to the adapter)
    skipped: SkipReason | None = None
    #: handed out before to a worker that did not finish it (the bus checked it was not answered)
    redelivered: bool = False
    #: the chat's history and facts, read when handling began (None: read when asked)
    read_ahead: ReadAhead | None = None
    #: the delivery the dialogue answer may acknowledge in its own transaction when it is the
    #: message's last event (set by the pipeline when no middleware sends after its handler)
    ends: Delivery | None = None

    @property
    def persona(self) -> Persona:
        """Who the bot is (``name``, ``description``, ``greeting``, ``language``)."""
        return self.services.persona

    @property
    def memory(self) -> ConversationStore:
        """The conversation memory (``recent(chat_key)``, ``clear(chat_key)``)."""
        return self.services.conversations

    @property
    def settings(self) -> SettingsStore:
        """Per-scope settings that survive restarts (``get(scope)``, ``update(scope, values)``)."""
        return self.services.settings

    async def history(self) -> list[Turn]:
        """The chat's last ``history_turns`` turns, oldest first (read ahead when handling began)."""
        if self.read_ahead is not None:
            return list(await self.read_ahead.history)
        return await self.services.conversations.recent(self.message.chat_key, self.services.config.history_turns)

    async def facts(self) -> dict[str, str]:
        """The facts known in this chat (read ahead when handling began)."""
        if self.read_ahead is not None:
            return known_facts(await self.read_ahead.facts)
        return await self.services.memory.facts(self.message.chat_key)

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
