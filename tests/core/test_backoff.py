"""The shared backoff helper: growth, cap, and each jitter kind's bounds."""

from __future__ import annotations

import pytest

from core.backoff import Backoff, BackoffPolicy


def test_steps_double_and_cap() -> None:
    p = BackoffPolicy(base_s=0.5, cap_s=3.0, jitter="none")
    assert [p.delay(a) for a in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_huge_attempt_does_not_overflow() -> None:
    assert BackoffPolicy(base_s=1, cap_s=10, jitter="none").delay(10_000) == 10


@pytest.mark.parametrize(("jitter", "low", "high"), [("full", 0.0, 4.0), ("equal", 2.0, 4.0)])
def test_jitter_bounds(jitter: str, low: float, high: float) -> None:
    p = BackoffPolicy(base_s=4, cap_s=4, jitter=jitter)  # type: ignore[arg-type]
    assert p.delay(1, lambda: 0.0) == low
    assert p.delay(1, lambda: 0.999999) == pytest.approx(high, rel=1e-5)


def test_stateful_backoff_resets() -> None:
    b = Backoff(BackoffPolicy(base_s=1, cap_s=8, jitter="none"))
    assert [b.next(), b.next(), b.next()] == [1, 2, 4]
    b.reset()
    assert b.next() == 1


def test_invalid_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(factor=0.5)
