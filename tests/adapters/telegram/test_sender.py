"""The sender's retry backoff is full jitter from the shared helper, as its docstring says."""

from __future__ import annotations

import asyncio

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


async def test_sender_caps_requests_in_flight() -> None:
    limits = RateLimitConfig.model_validate({"per_chat": 0, "per_group": 0, "overall": 0})
    sender = Sender(RateLimiter(limits), RetryConfig.model_validate({}), max_in_flight=2)
    in_flight, most = 0, 0

    async def request() -> bool:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return True

    results = await asyncio.gather(*(sender.call("sendMessage", chat, request) for chat in range(1, 9)))
    assert results == [True] * 8
    assert most == 2
