"""The sender's retry backoff is full jitter from the shared helper, as its docstring says."""

from __future__ import annotations

from adapters.telegram.config import RateLimitConfig, RetryConfig
from adapters.telegram.ratelimit import RateLimiter
from adapters.telegram.sender import Sender


def _sender(draw: float) -> Sender:
    retry = RetryConfig.model_validate({"backoff_base_s": 0.5, "backoff_max_s": 4.0})
    return Sender(RateLimiter(RateLimitConfig.model_validate({})), retry, jitter=lambda: draw)


def test_sender_backoff_is_full_jitter_not_equal_jitter() -> None:
    assert _sender(0.0).backoff(1) == 0.0, "full jitter may retry at once (equal jitter never went below half)"
    assert _sender(0.5).backoff(2) == 0.5
    assert _sender(0.999999).backoff(10) < 4.0 <= _sender(0.999999).backoff(10) + 1e-5, "capped at backoff_max_s"
