"""Exponential backoff with jitter, and a log of outages that says when they start and end."""

from __future__ import annotations

import logging
import random
import time


class Backoff:
    """Delays of ``first``, doubling up to ``cap``, each with ±20% jitter; :meth:`reset` after a success."""

    def __init__(self, first_s: float = 0.05, cap_s: float = 5.0) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self._next = first_s

    def next(self) -> float:
        """The next delay in seconds."""
        delay = self._next
        self._next = min(self.cap_s, self._next * 2)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.first_s


class Outage:
    """Logs one line when a dependency becomes unreachable and one when it is back (not one per retry)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log = logger
        self.what = what
        self.since: float | None = None

    def failed(self, exc: BaseException, retry_in_s: float) -> None:
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning("%s unreachable (%s: %s); retrying with backoff", self.what, type(exc).__name__, exc)
        else:
            self.log.debug("%s still unreachable; next try in %.2fs", self.what, retry_in_s)

    def ok(self) -> None:
        if self.since is not None:
            self.log.warning("%s reachable again after %.1fs", self.what, time.monotonic() - self.since)
            self.since = None

    @property
    def down(self) -> bool:
        return self.since is not None
