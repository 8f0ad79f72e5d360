"""The middleware contract and its composition, aiogram-style."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar

from core.pipeline.context import Context

Handler = Callable[[Context], Awaitable[None]]


class Middleware(abc.ABC):
    """Wraps the rest of the pipeline: call ``handler(ctx)`` to continue, or return to stop."""

    #: False when the middleware sends nothing once its handler has returned: with only such
    #: middlewares, the dialogue answer is a message's last event and the bus may acknowledge the
    #: message in the answer's own transaction. Unknown middlewares may (True).
    sends_after_handler: ClassVar[bool] = True

    @abc.abstractmethod
    async def __call__(self, handler: Handler, ctx: Context) -> None:
        """Handle ``ctx`` or pass it on."""


def compose(middlewares: Sequence[Middleware], final: Handler) -> Handler:
    """Nest ``middlewares`` (first is outermost) around ``final``."""
    handler = final
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler


def _bind(middleware: Middleware, inner: Handler) -> Handler:
    async def run(ctx: Context) -> None:
        await middleware(inner, ctx)

    return run
