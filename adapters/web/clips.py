"""Voice replies the page plays by an unguessable URL, kept on disk so they survive reloads and restarts.

With a directory (normally ``web/ADAPTER`` inside the voice cache), each clip is two files,
``TOKEN.ogg`` and ``TOKEN.json`` (its MIME type, duration and waveform), and the store is
rebuilt from them at start. Without one, clips live in memory only. Either way the store
is bounded by a clip count and a byte total; the oldest clips go first.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from core.model import VoiceClip

log = logging.getLogger(__name__)

TOKEN = re.compile(r"^[A-Za-z0-9_-]{24}$")


@dataclass(frozen=True, slots=True)
class ClipInfo:
    """What the page needs to draw a clip before fetching it."""

    token: str
    mime_type: str
    duration_s: float
    waveform: bytes
    size: int


class ClipStore:
    """A bounded store of voice clips keyed by random tokens, oldest dropped first.

    Args:
        capacity: how many clips are kept.
        directory: where clips are written; None keeps them in memory only.
        max_bytes: the most audio bytes kept.
    """

    def __init__(self, capacity: int = 64, directory: Path | None = None, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.capacity = capacity
        self.directory = directory
        self.max_bytes = max_bytes
        self._info: collections.OrderedDict[str, ClipInfo] = collections.OrderedDict()
        self._data: dict[str, bytes] = {}  # memory-only mode
        self._bytes = 0
        if directory is not None:
            self._load(directory)

    def _load(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            metas = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        except OSError as exc:
            log.warning("web chat: voice clips kept in memory only: %s: %s", directory, exc.strerror or exc)
            self.directory = None
            return
        for meta in metas:
            token = meta.stem
            audio = meta.with_suffix(".ogg")
            try:
                raw = json.loads(meta.read_text("utf-8"))
                info = ClipInfo(
                    token, str(raw["mime_type"]), float(raw["duration_s"]), bytes.fromhex(raw.get("waveform", "")),
                    audio.stat().st_size,
                )
            except (OSError, ValueError, KeyError, TypeError):
                self._unlink(token, directory)
                continue
            if TOKEN.match(token):
                self._add(info)
        self._evict()

    def put(self, clip: VoiceClip) -> ClipInfo:
        """Store ``clip``; returns its token and description."""
        token = secrets.token_urlsafe(18)
        info = ClipInfo(token, clip.mime_type, clip.duration_s, clip.waveform, len(clip.data))
        if self.directory is not None:
            try:
                (self.directory / f"{token}.ogg").write_bytes(clip.data)
                meta = {"mime_type": clip.mime_type, "duration_s": clip.duration_s, "waveform": clip.waveform.hex()}
                (self.directory / f"{token}.json").write_text(json.dumps(meta), "utf-8")
            except OSError as exc:
                log.warning("web chat: could not keep a voice clip on disk (%s); kept in memory", exc.strerror or exc)
                self._unlink(token, self.directory)
                self._data[token] = clip.data
        else:
            self._data[token] = clip.data
        self._add(info)
        self._evict()
        return info

    def info(self, token: str) -> ClipInfo | None:
        """The description of ``token``'s clip, or None when unknown or dropped."""
        return self._info.get(token) if TOKEN.match(token) else None

    def read(self, token: str) -> bytes | None:
        """The clip's bytes, or None when unknown, dropped or unreadable (blocking: call off the loop)."""
        if self.info(token) is None:
            return None
        if token in self._data:
            return self._data[token]
        assert self.directory is not None
        try:
            return (self.directory / f"{token}.ogg").read_bytes()
        except OSError:
            return None

    def _add(self, info: ClipInfo) -> None:
        self._info[info.token] = info
        self._bytes += info.size

    def _evict(self) -> None:
        while self._info and (len(self._info) > self.capacity or self._bytes > self.max_bytes):
            token, info = self._info.popitem(last=False)
            self._bytes -= info.size
            if self._data.pop(token, None) is None and self.directory is not None:
                self._unlink(token, self.directory)

    @staticmethod
    def _unlink(token: str, directory: Path) -> None:
        for suffix in (".ogg", ".json"):
            (directory / f"{token}{suffix}").unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._info)
