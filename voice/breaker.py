"""A circuit breaker: after repeated failures, skip a service for a while instead of waiting on it."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures; after ``reset_s`` one trial call is let
    through (half-open): success closes it, failure opens it again for another ``reset_s``.

    Args:
        failures: consecutive failures that open the breaker.
        reset_s: seconds an open breaker refuses calls.
        clock: monotonic clock (swappable in tests).
    """

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = failures
        self._reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self._opened_at is None:
            return "closed"
        return "half-open" if self._clock() - self._opened_at >= self._reset_s else "open"

    def retry_in_s(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when not open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._reset_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go ahead now (claims the single half-open trial)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def would_allow(self) -> bool:
        """Like :meth:`allow` without claiming the trial (for listings and diagnostics)."""
        return self.state == "closed" or (self.state == "half-open" and not self._trial_running)

    def record_success(self) -> None:
        """A call worked: close."""
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        """A call failed: count it, open at the threshold (or at once after a failed trial)."""
        self._failures += 1
        if self._trial_running or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._trial_running = False

    def release_trial(self) -> None:
        """A call ended without a verdict (cancelled): let the next call be the trial."""
        self._trial_running = False
