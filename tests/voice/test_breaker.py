"""Circuit breaker states."""

from __future__ import annotations

from voice.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_half_opens_after_reset() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, reset_s=10, clock=clock)
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.allow()  # the single trial
    assert not breaker.allow()  # no second trial while the first runs
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_failed_trial_reopens_at_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, reset_s=5, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now = 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and breaker.retry_in_s() == 5


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failures=2, reset_s=5)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
