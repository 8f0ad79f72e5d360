"""Garbage-collector settings for a long-running bot process (``run.py`` and the benchmarks alike).

CPython's defaults collect the youngest generation every 700 net allocations. A busy bot holds
hundreds of messages in flight (their tasks, frames, events and Redis replies are all young and
alive), so nearly every collection traverses live objects, finds nothing, and promotes them to
be traversed again in the older generations: on this 2-core machine that was a quarter of a Redis
worker's CPU at 128 chats. After start-up, :func:`tune_for_service` freezes what start-up made
(modules, models, configuration: never garbage) and collects the young generation every
``young`` allocations instead. Reference cycles are still collected, only less often; a young
collection then takes a few milliseconds.
"""

from __future__ import annotations

import gc

YOUNG = 20_000


def tune_for_service(young: int = YOUNG) -> None:
    """Freeze the start-up heap and collect the youngest generation every ``young`` allocations."""
    gc.collect()
    gc.freeze()  # out of every later collection: start-up objects live as long as the process
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
