"""Recent voice replies kept in memory so the page can fetch them by an unguessable URL."""

from __future__ import annotations

import collections
import secrets

from core.model import VoiceClip


class ClipStore:
    """A bounded, least-recently-added store of voice clips keyed by random tokens.

    Args:
        capacity: how many clips are kept; the oldest is dropped first.
    """

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._clips: collections.OrderedDict[str, VoiceClip] = collections.OrderedDict()

    def put(self, clip: VoiceClip) -> str:
        """Store ``clip`` and return its token."""
        token = secrets.token_urlsafe(18)
        self._clips[token] = clip
        while len(self._clips) > self.capacity:
            self._clips.popitem(last=False)
        return token

    def get(self, token: str) -> VoiceClip | None:
        """The clip for ``token``, or None when unknown or expired."""
        return self._clips.get(token)

    def __len__(self) -> int:
        return len(self._clips)
