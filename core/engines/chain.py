"""An engine chain: tries each engine in order until one answers in time."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from core.engine import Conversation, DialogueEngine
from core.errors import EngineError, EngineTimeout, EngineUnavailable, NoAnswer

log = logging.getLogger(__name__)


class EngineChain(DialogueEngine):
    """Falls through to the next engine when one declines, fails or is too slow.

    ``first_piece_timeout_s`` bounds the wait for an engine's first piece, and
    ``timeout_s`` the whole answer. Once an engine has yielded text, the chain is
    committed to it: a failure after that is raised as :class:`EngineError`
    (the pipeline apologizes after the partial answer).
    """

    name = "chain"

    def __init__(
        self,
        engines: Sequence[DialogueEngine],
        timeout_s: float = 30.0,
        first_piece_timeout_s: float | None = None,
    ) -> None:
        if not engines:
            raise ValueError("an engine chain needs at least one engine")
        self.engines = list(engines)
        self.timeout_s = timeout_s
        self.first_piece_timeout_s = first_piece_timeout_s or timeout_s

    async def start(self) -> None:
        """Start every engine; one that cannot start is left out with a logged reason.

        Raises:
            EngineUnavailable: when no engine at all could start.
        """
        started: list[DialogueEngine] = []
        reasons: list[str] = []
        for engine in self.engines:
            try:
                await engine.start()
            except Exception as exc:  # noqa: BLE001 - one broken engine must not stop the bot
                log.error("engine %s could not start and is left out of the chain: %s", engine.name, exc)
                reasons.append(f"{engine.name}: {exc}")
                continue
            started.append(engine)
        if not started:
            raise EngineUnavailable("no engine could start: " + "; ".join(reasons))
        self.engines = started

    async def stop(self) -> None:
        for engine in reversed(self.engines):
            try:
                await engine.stop()
            except Exception:
                log.exception("engine %s failed to stop", engine.name)

    def reply(self, conversation: Conversation) -> ChainReply:
        """The answer of the first engine that answers in time (see :class:`ChainReply`)."""
        return ChainReply(self, conversation)

    async def _answer(self, conversation: Conversation, result: ChainReply) -> AsyncGenerator[str, None]:
        for engine in self.engines:
            started = time.monotonic()
            deadline = started + self.timeout_s
            async with _closing(engine.reply(conversation)) as stream:
                try:
                    # asyncio.timeout, not wait_for: no task per step, and no reference cycle left by the
                    # StopAsyncIteration that ends a stream (see core.pipeline.dialogue._timed)
                    async with asyncio.timeout(self.first_piece_timeout_s):
                        first = await anext(stream)
                except StopAsyncIteration:
                    result.attempts.append(Attempt(engine.name, Outcome.DECLINED, "empty answer"))
                    continue
                except NoAnswer as exc:
                    result.attempts.append(Attempt(engine.name, Outcome.DECLINED, f"no answer ({exc})" if str(exc) else "no answer"))
                    continue
                except TimeoutError:
                    log.warning("engine %s gave no first piece within %.1fs; trying the next", engine.name, self.first_piece_timeout_s)
                    result.attempts.append(Attempt(engine.name, Outcome.TIMED_OUT, "timed out"))
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.exception("engine %s failed; trying the next", engine.name)
                    result.attempts.append(Attempt(engine.name, Outcome.FAILED, type(exc).__name__))
                    continue
                result.engine = engine.name
                yield first
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise EngineTimeout(f"{engine.name} exceeded {self.timeout_s:.1f}s")
                    try:
                        async with asyncio.timeout(remaining):
                            piece = await anext(stream)
                    except StopAsyncIteration:
                        return
                    except TimeoutError as exc:
                        raise EngineTimeout(f"{engine.name} exceeded {self.timeout_s:.1f}s") from exc
                    except EngineError:
                        raise
                    except Exception as exc:
                        raise EngineError(f"{engine.name} failed mid-answer: {exc!r}") from exc
                    yield piece

        summary = "; ".join(str(a) for a in result.attempts)
        if any(a.outcome is not Outcome.DECLINED for a in result.attempts):
            raise EngineError(f"every engine failed or declined: {summary}")
        raise NoAnswer(summary)


class Outcome(enum.Enum):
    """Why an engine of the chain did not answer."""

    DECLINED = "declined"  # no answer it is confident in, or an empty one: not a failure
    TIMED_OUT = "timed out"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One engine the chain tried before the one that answered (or before giving up)."""

    engine: str
    outcome: Outcome
    detail: str

    def __str__(self) -> str:
        return f"{self.engine}: {self.detail}"


class ChainReply(AsyncIterator[str]):
    """One answer of an :class:`EngineChain`, iterated piece by piece.

    Attributes:
        engine: the engine that answered, once it has yielded its first piece (None before, and
            when every engine declined or failed).
        attempts: the engines tried before it, each with why it did not answer.
    """

    def __init__(self, chain: EngineChain, conversation: Conversation) -> None:
        self.engine: str | None = None
        self.attempts: list[Attempt] = []
        self._pieces = chain._answer(conversation, self)

    def __aiter__(self) -> ChainReply:
        return self

    async def __anext__(self) -> str:
        return await anext(self._pieces)

    async def aclose(self) -> None:
        await self._pieces.aclose()


@asynccontextmanager
async def _closing(stream: AsyncIterator[str]) -> AsyncGenerator[AsyncIterator[str], None]:
    """Close an engine's stream however the chain leaves it (async generators hold resources)."""
    try:
        yield stream
    finally:
        if isinstance(stream, (AsyncGenerator, ChainReply)):  # a bare iterator holds nothing to close
            await stream.aclose()
