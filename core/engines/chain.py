"""An engine chain: tries each engine in order until one answers in time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing

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
        #: name of the engine that produced the last answer, for logs and tests
        self.last_engine: str | None = None

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

    async def reply(self, conversation: Conversation) -> AsyncIterator[str]:  # type: ignore[override]
        reasons: list[str] = []
        for engine in self.engines:
            started = time.monotonic()
            deadline = started + self.timeout_s
            async with aclosing(engine.reply(conversation)) as stream:
                try:
                    first = await asyncio.wait_for(anext(stream), self.first_piece_timeout_s)
                except StopAsyncIteration:
                    reasons.append(f"{engine.name}: empty answer")
                    continue
                except NoAnswer as exc:
                    reasons.append(f"{engine.name}: no answer ({exc})" if str(exc) else f"{engine.name}: no answer")
                    continue
                except TimeoutError:
                    log.warning("engine %s gave no first piece within %.1fs; trying the next", engine.name, self.first_piece_timeout_s)
                    reasons.append(f"{engine.name}: timed out")
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error("engine %s failed: %r; trying the next", engine.name, exc, exc_info=True)
                    reasons.append(f"{engine.name}: {type(exc).__name__}")
                    continue
                self.last_engine = engine.name
                yield first
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise EngineTimeout(f"{engine.name} exceeded {self.timeout_s:.1f}s")
                    try:
                        piece = await asyncio.wait_for(anext(stream), remaining)
                    except StopAsyncIteration:
                        return
                    except TimeoutError as exc:
                        raise EngineTimeout(f"{engine.name} exceeded {self.timeout_s:.1f}s") from exc
                    except EngineError:
                        raise
                    except Exception as exc:
                        raise EngineError(f"{engine.name} failed mid-answer: {exc!r}") from exc
                    yield piece

        summary = "; ".join(reasons)
        if any(not r.endswith(("no answer", "empty answer")) and "no answer (" not in r for r in reasons):
            raise EngineError(f"every engine failed or declined: {summary}")
        raise NoAnswer(summary)
