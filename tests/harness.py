"""A real pipeline on an in-process bus, for tests: publish messages, collect what comes out."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Self

from prometheus_client import REGISTRY

from core.bus import InProcessBus
from core.engine import Conversation, DialogueEngine, Persona
from core.engines.chain import EngineChain
from core.errors import BusUnavailable
from core.model import Addressed, Author, Chat, ChatKind, IncomingMessage, OutgoingEvent, ReplyDone
from core.pipeline.context import BotServices
from core.pipeline.pipeline import Pipeline
from core.pipeline.settings import PipelineSettings
from core.speech import Speech
from core.stores.base import ConversationStore, DedupeStore, SettingsStore
from core.stores.memory import MemoryConversationStore, MemoryDedupeStore, MemoryRateCounter, MemorySettingsStore
from core.stt import SpeechToText

_ids = itertools.count(1)


def message(
    text: str,
    chat: str = "c1",
    user: str = "u1",
    *,
    kind: ChatKind = ChatKind.PRIVATE,
    addressed: Addressed = Addressed.PRIVATE,
    message_id: str | None = None,
    origin: str = "test",
) -> IncomingMessage:
    """An incoming test message."""
    return IncomingMessage(
        platform="test",
        origin=origin,
        chat=Chat(chat, kind),
        author=Author(user, f"User {user}"),
        message_id=message_id or str(next(_ids)),
        text=text,
        addressed=addressed,
    )


class ScriptedEngine(DialogueEngine):
    """Yields the given pieces (with an optional pause), or raises, or hangs: a fake that subclasses the contract."""

    name = "scripted"

    def __init__(self, pieces: Sequence[str] = ("ok",), delay_s: float = 0.0, error: Exception | None = None, hang: bool = False) -> None:
        self.pieces = list(pieces)
        self.delay_s = delay_s
        self.error = error
        self.hang = hang
        self.seen: list[Conversation] = []

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:
        self.seen.append(conversation)
        if self.hang:
            await asyncio.Event().wait()
        for piece in self.pieces:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield piece
        if self.error is not None:
            raise self.error


class Harness:
    """Bus + pipeline + stores; ``send`` publishes, ``replies`` collects the outgoing events."""

    def __init__(
        self,
        engines: Sequence[DialogueEngine],
        settings: PipelineSettings | None = None,
        conversations: ConversationStore | None = None,
        settings_store: SettingsStore | None = None,
        dedupe: DedupeStore | None = None,
        speech: Speech | None = None,
        destination: str = "test",
        listener: SpeechToText | None = None,
    ) -> None:
        self.settings = settings or PipelineSettings()
        self.chain = EngineChain(engines, self.settings.engine_timeout_s, self.settings.first_piece_timeout_s)
        self.bus = InProcessBus()
        self.services = BotServices(
            name="testbot",
            persona=Persona("Tess", "A test bot.", "Hello from Tess."),
            engine=self.chain,
            conversations=conversations or MemoryConversationStore(self.settings.history_turns),
            settings=settings_store or MemorySettingsStore(),
            dedupe=dedupe or MemoryDedupeStore(),
            counter=MemoryRateCounter(),
            speech=speech,
            config=self.settings,
            listener=listener,
        )
        self.pipeline = Pipeline(self.services, self.bus)
        self.destination = destination
        self.events: list[OutgoingEvent] = []
        self._collector: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.chain.start()
        await self.bus.start()
        await self.pipeline.start()
        self._collector = asyncio.create_task(self._collect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pipeline.stop()
        await self.bus.stop()
        if self._collector:
            await asyncio.wait_for(self._collector, 5)
        await self.chain.stop()

    async def _collect(self) -> None:
        async for event in self.bus.outgoing(self.destination):
            self.events.append(event)

    async def send(self, *messages: IncomingMessage) -> None:
        """Publish messages and wait until the pipeline has handled them all."""
        for m in messages:
            await self.bus.publish(m)
        await asyncio.sleep(0)
        for _ in range(100):
            await asyncio.sleep(0.005)
            if (await self.bus.backlog()).lag == 0 and not self.pipeline._tasks:
                break
        await self.pipeline.idle()
        await asyncio.sleep(0.01)

    def done(self) -> list[ReplyDone]:
        """The complete replies so far."""
        return [e for e in self.events if isinstance(e, ReplyDone)]

    def texts(self) -> list[str]:
        """The texts of the complete replies so far."""
        return [e.text for e in self.done()]


class RefusingBus(InProcessBus):
    """Refuses the first ``refusals`` messages, as the Redis bus does when it cannot accept one."""

    def __init__(self, refusals: int) -> None:
        super().__init__("test")
        self.refusals = refusals
        self.refused = 0

    async def publish(self, message: IncomingMessage) -> None:
        if self.refused < self.refusals:
            self.refused += 1
            raise BusUnavailable("redis unreachable and 10000 messages already waiting")
        await super().publish(message)


def with_settings(**changes: object) -> PipelineSettings:
    """PipelineSettings with some fields changed."""
    return replace(PipelineSettings(), **changes)  # type: ignore[arg-type]


def metric(name: str, **labels: str) -> float:
    """The current value of one sample of the default Prometheus registry (0 when it was never recorded).

    The registry is global to the test process: compare a value before and after, never to a constant.
    """
    return REGISTRY.get_sample_value(name, labels) or 0.0
