"""The event loop every ``run.py`` command runs on: uvloop where it is installed, asyncio's own otherwise.

uvloop (libuv) runs the same asyncio code with a fraction of the loop's own overhead (scheduling
callbacks, timers, socket reads and writes), which is most of a Redis worker's CPU per message.
``BOTS_EVENT_LOOP=asyncio`` forces the standard loop (to compare, or to debug with asyncio's tools).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "BOTS_EVENT_LOOP"


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: the loop :func:`run` uses here."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:  # Windows, or not installed
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new loop (see :func:`loop_name`), like :func:`asyncio.run`."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
