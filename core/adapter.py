"""The adapter contract: a platform connection that publishes incoming messages and sends replies."""

from __future__ import annotations

import abc
import asyncio
import logging
import time

from core import metrics
from core.bus import Bus
from core.lifecycle import Resource, cancel_and_wait
from core.logcontext import key_of, message_context
from core.model import OutgoingEvent, ReplyDone

log = logging.getLogger(__name__)


class Adapter(Resource, abc.ABC):
    """Connects one platform to a bot.

    An adapter translates platform events into :class:`core.model.IncomingMessage`
    and publishes them with ``self.bus.publish``; it receives the outgoing
    events addressed to ``self.adapter_id`` and implements :meth:`deliver`.

    Subclasses implement :meth:`connect` and :meth:`deliver`, and may override
    :meth:`disconnect`. The base class runs the loop that pulls outgoing events
    from the bus and awaits :meth:`deliver` for each, in order, behind an error
    boundary. ``deliver`` should therefore only hand the event to the adapter's
    own per-chat queue (so one slow chat never holds up another) rather than
    wait for the platform.
    """

    platform: str = "unknown"

    def __init__(self, adapter_id: str, bus: Bus) -> None:
        self.adapter_id = adapter_id
        self.bus = bus
        self._pump: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the platform connection and begin publishing incoming messages."""

    @abc.abstractmethod
    async def deliver(self, event: OutgoingEvent) -> None:
        """Send one outgoing event to the platform."""

    async def disconnect(self) -> None:
        """Close the platform connection."""

    async def start(self) -> None:
        await self.connect()
        self._pump = asyncio.create_task(self._run_outgoing(), name=f"{self.adapter_id}-out")

    async def stop(self) -> None:
        await cancel_and_wait(self._pump)
        self._pump = None
        await self.disconnect()

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait (bounded) until every outgoing event queued before the bus stopped is delivered."""
        if self._pump is not None and not self._pump.done():
            await asyncio.wait({self._pump}, timeout=timeout_s)

    async def _run_outgoing(self) -> None:
        bot = self.bus.bot
        async for event in self.bus.outgoing(self.adapter_id):
            with message_context(key_of(event.target.in_reply_to)):
                await self._deliver_measured(event, bot)

    async def _deliver_measured(self, event: OutgoingEvent, bot: str) -> None:
        """Deliver ``event`` behind the error boundary, recording the send stage, counts and latency."""
        kind = type(event).__name__
        started = time.perf_counter()
        try:
            await self.deliver(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            metrics.ERRORS.labels(bot, "send").inc()
            log.exception("%s: could not deliver %s", self.adapter_id, kind)
        else:
            metrics.MESSAGES_OUT.labels(bot, self.platform, kind).inc()
            received_at = event.target.received_at
            if isinstance(event, ReplyDone) and received_at > 0:
                # Wall clocks of two processes: clamp a small skew rather than record a negative latency.
                metrics.END_TO_END.labels(bot, self.platform).observe(max(0.0, time.time() - received_at))
        metrics.STAGE.labels(bot, "send").observe(time.perf_counter() - started)
