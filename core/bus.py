"""The bus between adapters (gateway side) and the pipeline (worker side).

Adapters call :meth:`Bus.publish` and read :meth:`Bus.outgoing`; the pipeline
reads :meth:`Bus.deliveries` and calls :meth:`Bus.send`. A delivery is
acknowledged only once its reply has been handed back, so a distributed
implementation can redeliver what a dead worker held.
"""

from __future__ import annotations

import abc
import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from core import metrics
from core.errors import BusClosed
from core.lifecycle import Resource
from core.model import IncomingMessage, OutgoingEvent
from core.stores.base import StoreWrite


async def _no_wait() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One incoming message handed to a worker.

    Attributes:
        message: the message.
        ack: acknowledges it; the pipeline calls it once the reply has been handed back.
        turn: waits until every earlier message of the same chat has been acknowledged, by
            whichever worker held it (a distributed bus keeps replies of one chat in order this way).
        redelivered: the message was handed out before to a worker that did not acknowledge it
            (it died or stopped); the bus has checked that it was not answered.
        delivery_id: the bus's own id of this delivery (a stream entry id), for logs.
        attempts: how many times the message has been handed out, this time included.
    """

    message: IncomingMessage
    ack: Callable[[], Awaitable[None]] = field(default=_no_wait, compare=False, repr=False)
    turn: Callable[[], Awaitable[None]] = field(default=_no_wait, compare=False, repr=False)
    redelivered: bool = False
    delivery_id: str = ""
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class Backlog:
    """How far the workers are behind.

    Attributes:
        lag: incoming messages no worker has read yet.
        pending: messages a worker has read and not acknowledged yet (0 where the bus cannot tell).
    """

    lag: int
    pending: int = 0


class Bus(Resource, abc.ABC):
    """Carries incoming messages to the pipeline and outgoing events to adapters.

    Attributes:
        bot: the name of the bot the bus carries messages for (labels its and its adapters' metrics).
        consumer: this process's name among the workers sharing the bus ("" for a bus private to
            one process).
    """

    bot: str = ""
    consumer: str = ""

    @abc.abstractmethod
    async def publish(self, message: IncomingMessage) -> None:
        """Gateway side: enqueue an incoming message (never drops it)."""

    async def publish_again(self, message: IncomingMessage) -> None:
        """Gateway side: enqueue a message published before whose answer never reached the platform.

        An adapter that journals what it received calls this after a crash. The pipeline
        handles such a message even when its dedupe key was claimed by the run that died
        (``Delivery.redelivered``). The default publishes it as new, which a bus that keeps
        its own unacknowledged messages (a distributed one) may leave as it is.
        """
        await self.publish(message)

    @abc.abstractmethod
    def deliveries(self) -> AsyncIterator[Delivery]:
        """Worker side: the incoming messages, in arrival order."""

    @abc.abstractmethod
    async def send(self, event: OutgoingEvent) -> None:
        """Worker side: enqueue an outgoing event for ``event.target.destination``."""

    async def send_with(self, event: OutgoingEvent, write: StoreWrite, ack: Delivery | None = None) -> bool:
        """Worker side: send ``event`` and, where this bus can, ``write`` in the same transaction.

        Args:
            event: the answer.
            write: the store write that goes with it (the memory of the answer).
            ack: the delivery this answer ends, when nothing more will be sent for it: a bus that
                can acknowledges it in the same transaction (its ``ack()`` then returns at once);
                otherwise it is acknowledged as usual.

        Returns:
            True when the bus carried the write (the event and the write landed together);
            False when it could not (the default), and then the caller runs ``write`` itself after.
        """
        await self.send(event)
        return False

    @abc.abstractmethod
    def outgoing(self, destination: str) -> AsyncIterator[OutgoingEvent]:
        """Gateway side: the outgoing events for one adapter, in order."""

    @abc.abstractmethod
    async def backlog(self) -> Backlog:
        """How many messages wait for a worker, and how many are held unacknowledged."""

    async def ping(self) -> bool:
        """True when the bus's backing service answers now (a bus inside the process always does)."""
        return True


_CLOSE = object()


class InProcessBus(Bus):
    """The default bus: unbounded asyncio queues inside one process."""

    def __init__(self, bot: str = "") -> None:
        self.bot = bot
        self._incoming: asyncio.Queue[object] = asyncio.Queue()
        self._outgoing: defaultdict[str, asyncio.Queue[object]] = defaultdict(asyncio.Queue)
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    async def stop(self) -> None:
        self._closed = True
        self._incoming.put_nowait(_CLOSE)
        for queue in self._outgoing.values():
            queue.put_nowait(_CLOSE)

    async def publish(self, message: IncomingMessage) -> None:
        if self._closed:
            raise BusClosed("bus is stopped")
        self._incoming.put_nowait(message)
        metrics.MESSAGES_IN.labels(self.bot, message.platform).inc()

    async def publish_again(self, message: IncomingMessage) -> None:
        if self._closed:
            raise BusClosed("bus is stopped")
        self._incoming.put_nowait(Delivery(message, redelivered=True))
        metrics.MESSAGES_IN.labels(self.bot, message.platform).inc()

    async def deliveries(self) -> AsyncIterator[Delivery]:
        while True:
            item = await self._incoming.get()
            if item is _CLOSE:
                return
            if isinstance(item, Delivery):
                yield item
                continue
            assert isinstance(item, IncomingMessage)
            yield Delivery(item)

    async def send(self, event: OutgoingEvent) -> None:
        if self._closed:
            raise BusClosed("bus is stopped")
        self._outgoing[event.target.destination].put_nowait(event)

    async def outgoing(self, destination: str) -> AsyncIterator[OutgoingEvent]:
        queue = self._outgoing[destination]
        while True:
            item = await queue.get()
            if item is _CLOSE:
                return
            yield item  # type: ignore[misc]

    async def backlog(self) -> Backlog:
        """Incoming messages waiting for a worker (this bus does not track unacknowledged ones)."""
        return Backlog(lag=self._incoming.qsize())
