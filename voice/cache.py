"""Synthesized-audio cache: a bounded in-memory LRU in front of a bounded on-disk store.

Keys come from :func:`cache_key` (engine, voice, rate, normalized text and what is
stored). Values are opaque bytes; the service stores finished voice notes and
per-sentence PCM. Disk entries are files named by key; the least recently used files
go when the directory grows past its byte budget. Disk work runs in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pathlib
import re
import threading
from collections import OrderedDict

from core.lifecycle import Resource

log = logging.getLogger(__name__)
_WS = re.compile(r"\s+")


def normalize_for_key(text: str) -> str:
    """Whitespace-collapsed, case-kept text (case changes how a sentence is read)."""
    return _WS.sub(" ", text).strip()


def cache_key(kind: str, engine: str, voice: str, rate: float, text: str) -> str:
    """A stable hex key for one piece of synthesized audio."""
    raw = "\x1f".join((kind, engine, voice, f"{rate:.3f}", normalize_for_key(text)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class MemoryLru:
    """An LRU of bytes bounded by their total size (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def get(self, key: str) -> bytes | None:
        """The value, marked most recently used, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        """Store ``value``; values larger than the whole budget are not kept."""
        if len(value) > self._max:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = value
            self._size += len(value)
            while self._size > self._max:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


class DiskCache:
    """Files under ``root`` bounded by total size; least recently read or written go first."""

    def __init__(self, root: pathlib.Path, max_bytes: int) -> None:
        self._root = root
        self._max = max_bytes
        self._size = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the directory and measure what is there. Blocking."""
        self._root.mkdir(parents=True, exist_ok=True)
        self._size = sum(p.stat().st_size for p in self._root.glob("*.bin"))
        self._evict()

    def _path(self, key: str) -> pathlib.Path:
        return self._root / f"{key}.bin"

    def get(self, key: str) -> bytes | None:
        """Read an entry (and mark it used), or None. Blocking."""
        path = self._path(key)
        try:
            data = path.read_bytes()
            os.utime(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("voice cache read failed: %s", exc)
            return None
        return data

    def put(self, key: str, value: bytes) -> None:
        """Write an entry atomically, then evict past the budget. Blocking."""
        if len(value) > self._max:
            return
        path = self._path(key)
        tmp = path.with_suffix(f".tmp{threading.get_ident()}")
        try:
            tmp.write_bytes(value)
            old = path.stat().st_size if path.exists() else 0
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("voice cache write failed: %s", exc)
            tmp.unlink(missing_ok=True)
            return
        with self._lock:
            self._size += len(value) - old
        if self._size > self._max:
            self._evict()

    def _evict(self) -> None:
        with self._lock:
            if self._size <= self._max:
                return
            entries = []
            for p in self._root.glob("*.bin"):
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                entries.append((st.st_mtime, st.st_size, p))
            entries.sort()
            total = sum(size for _, size, _ in entries)
            target = self._max * 0.9  # leave headroom so eviction is not run on every put
            for _, size, p in entries:
                if total <= target:
                    break
                p.unlink(missing_ok=True)
                total -= size
            self._size = total


class AudioCache(Resource):
    """Memory LRU in front of an optional disk cache.

    Args:
        memory_bytes: budget of the in-memory LRU.
        disk_dir: directory of the disk cache; None keeps everything in memory only.
        disk_bytes: budget of the disk cache.
    """

    def __init__(self, memory_bytes: int, disk_dir: pathlib.Path | None = None, disk_bytes: int = 0) -> None:
        self.memory = MemoryLru(memory_bytes)
        self.disk = DiskCache(disk_dir, disk_bytes) if disk_dir is not None and disk_bytes > 0 else None
        self.hits = 0
        self.misses = 0

    async def start(self) -> None:
        """Prepare the disk directory."""
        if self.disk is not None:
            await asyncio.to_thread(self.disk.open)

    async def get(self, key: str) -> bytes | None:
        """Memory first, then disk (a disk hit is promoted to memory)."""
        value = self.memory.get(key)
        if value is None and self.disk is not None:
            value = await asyncio.to_thread(self.disk.get, key)
            if value is not None:
                self.memory.put(key, value)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    async def put(self, key: str, value: bytes) -> None:
        """Store in memory and on disk."""
        self.memory.put(key, value)
        if self.disk is not None:
            await asyncio.to_thread(self.disk.put, key, value)
