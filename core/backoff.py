"""Exponential backoff with jitter: the one helper every retry loop uses.

``delay(attempt)`` is the delay before the ``attempt``-th retry (1-based): ``base_s * factor ** (attempt - 1)``
capped at ``cap_s``, then jittered:

- ``"full"``: uniform in ``[0, d]`` (AWS "full jitter"; spreads retries of many clients best);
- ``"equal"``: uniform in ``[d / 2, d]`` (never retries sooner than half the step);
- ``"none"``: exactly ``d``.

:class:`Backoff` is a small stateful wrapper for loops that retry until success (``next()``, ``reset()``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Jitter = Literal["full", "equal", "none"]


@dataclass(frozen=True)
class BackoffPolicy:
    """How long to wait before each retry.

    Args:
        base_s: the first step, in seconds.
        cap_s: no step is longer than this (before jitter).
        factor: growth per attempt.
        jitter: ``"full"``, ``"equal"`` or ``"none"`` (see the module docstring).
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.cap_s < 0 or self.factor < 1:
            raise ValueError("backoff needs base_s >= 0, cap_s >= 0 and factor >= 1")

    def step(self, attempt: int) -> float:
        """The un-jittered delay before retry ``attempt`` (1-based)."""
        exponent = max(0, attempt - 1)
        # Bound the exponent so huge attempt counts cannot overflow the float.
        raw = self.base_s * self.factor ** min(exponent, 64)
        return min(self.cap_s, raw)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The jittered delay before retry ``attempt`` (1-based); ``rand`` returns a float in ``[0, 1)``."""
        d = self.step(attempt)
        if self.jitter == "full":
            return d * rand()
        if self.jitter == "equal":
            return d / 2 + d / 2 * rand()
        return d


@dataclass
class Backoff:
    """Stateful backoff for "retry until it works" loops: :meth:`next` grows, :meth:`reset` after a success."""

    policy: BackoffPolicy = field(default_factory=BackoffPolicy)
    rand: Callable[[], float] = random.random
    attempt: int = 0

    def next(self) -> float:
        """The delay before the next retry, in seconds."""
        self.attempt += 1
        return self.policy.delay(self.attempt, self.rand)

    def reset(self) -> None:
        """Start again from the first step (call after a success)."""
        self.attempt = 0
