"""Start/stop protocol shared by every resource (adapters, engines, stores, buses)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Resource:
    """A resource with ``start``/``stop`` that also works as ``async with``.

    Subclasses override :meth:`start` and :meth:`stop`; both must be idempotent.
    """

    async def start(self) -> None:
        """Acquire what the resource needs (connections, models)."""

    async def stop(self) -> None:
        """Release everything; safe to call twice."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
