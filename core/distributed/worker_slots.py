"""Worker slots: at most as many workers of one bot read the bus on a machine as it has cores.

Workers are CPU-bound on their machine (the pipeline, the engines, the Redis client). Four
workers on two cores do not answer faster than two: they take turns on the cores, each
reads smaller batches from the shared stream, and measured on this 2-core machine four were
a quarter slower than two. So each worker takes one of the machine's slots before it reads;
one that finds them all taken stands by (it reads nothing, holds nothing) and takes the first
slot that frees, within ``poll_s`` of a worker stopping or dying. Scaling a deployment past a
machine's cores then costs nothing, and the extra workers are warm spares.

A slot is an exclusive ``flock`` on a file named for the bus (its Redis URL and namespace), so
the kernel frees it the moment its process exits, however it exits (``kill -9`` included).
Workers in separate containers do not see each other's files: each container is its own
machine here, as its CPU quota usually is. Where ``fcntl`` does not exist (Windows) there are
no slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("core.distributed.redis_bus")


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


class WorkerSlots:
    """One of ``count`` slots of the bus ``key`` on this machine, held from :meth:`take` until :meth:`release`.

    Args:
        key: names the bus (its URL and namespace); workers of other bots have their own slots.
        count: slots on this machine; 0 means no limit.
        directory: where the lock files live (default: the system's temporary directory).
        poll_s: how often a standing-by worker looks for a free slot.
    """

    def __init__(self, key: str, count: int, directory: Path | None = None, poll_s: float = 0.25) -> None:
        self.count = count if fcntl is not None else 0
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        self.directory = (directory or Path(tempfile.gettempdir())) / "bots-worker-slots"
        self.prefix = f"{digest}-"
        self.poll_s = poll_s
        self.held: int | None = None
        self._file: IO[bytes] | None = None

    def _try(self, index: int) -> bool:
        assert fcntl is not None
        path = self.directory / f"{self.prefix}{index}.lock"
        file = path.open("ab")  # an error here is not "taken": take() gives up on slots
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another worker
            file.close()
            return False
        self._file, self.held = file, index
        return True

    async def take(self, closing: asyncio.Event) -> bool:
        """Hold a slot (at once when one is free, else when one frees); False if ``closing`` was set first."""
        if self.count <= 0 or self.held is not None:
            return True
        waiting = False
        while not closing.is_set():
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                taken = any(self._try(i) for i in range(self.count))
            except OSError as exc:  # a directory another user owns, a read-only /tmp: never a reason not to work
                log.warning("worker slots unusable (%s: %s); reading without a limit", type(exc).__name__, exc)
                self.count = 0
                return True
            if taken:
                if waiting:
                    log.info("a worker slot of this machine freed: slot %d taken, reading the bus", self.held)
                return True
            if not waiting:
                waiting = True
                log.info(
                    "all %d worker slots of this machine are taken (one worker per core); standing by to take over "
                    "from one that stops", self.count,
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await closing.wait()
        return False

    def release(self) -> None:
        file, self._file, self.held = self._file, None, None
        if file is not None:
            file.close()  # closing the descriptor drops the lock
