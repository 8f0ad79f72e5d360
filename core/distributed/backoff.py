"""How the redis bus and stores retry (with :mod:`core.backoff`), and a log of outages that says when they start and end."""

from __future__ import annotations

import logging
import time

from core.backoff import Backoff, BackoffPolicy

#: Redis calls retry quickly (a restart or failover takes seconds), never sooner than half a step.
REDIS_RETRY = BackoffPolicy(base_s=0.05, cap_s=5.0, jitter="equal")


def redis_backoff() -> Backoff:
    """A fresh backoff for one retry loop against redis."""
    return Backoff(REDIS_RETRY)


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
