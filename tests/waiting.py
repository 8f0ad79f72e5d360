"""Waiting in a fake server's tests: until a condition holds, woken by the fake's ``changed`` event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def wait_until(
    changed: asyncio.Event, pred: Callable[[], Any], timeout: float, recheck_s: float, who: str
) -> Any:
    """Wait until ``pred()`` is truthy and return its value.

    Woken by every ``changed.set()`` of the fake, so what it records is seen at once; ``pred`` is
    also re-checked every ``recheck_s`` for state that nothing signals.

    Raises:
        AssertionError: ``timeout`` passed (the message names ``who``).
    """
    deadline = time.monotonic() + timeout
    while True:
        changed.clear()
        value = pred()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{who}: condition not met in time")
        try:
            await asyncio.wait_for(changed.wait(), min(left, recheck_s))
        except TimeoutError:
            pass
