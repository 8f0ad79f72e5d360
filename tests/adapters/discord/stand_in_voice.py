"""A stand-in for discord.py's ``VoiceClient`` on the playing side (no voice gateway or UDP here).

It drives an ``AudioSource`` the way discord.py's ``AudioPlayer`` does: a thread calling
``read()`` until it returns ``b''``, then ``after(None)``. It records every frame instead of
encoding and sending it, and does not pace in real time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace

import discord

from adapters.discord.audio import FRAME_BYTES


class StandInVoice:
    """Plays a source like discord.py's AudioPlayer, recording the frames.

    Args:
        gate: when given, playback waits until it is set (tests set it once every clip is
            synthesized, so no underrun silence lands between clips and frames compare exactly).
        interval_s: pause between frames (discord.py's player waits 20 ms; tests go faster).
    """

    def __init__(self, gate: threading.Event | None = None, interval_s: float = 0.001) -> None:
        self.frames: list[bytes] = []
        self.channel = SimpleNamespace(members=[SimpleNamespace(bot=False)])
        self._gate = gate
        self._interval_s = interval_s
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def play(self, source: discord.AudioSource, *, after: Callable[[Exception | None], None]) -> None:
        assert not self.is_playing(), "discord.py refuses a second source while playing"
        assert isinstance(source, discord.AudioSource) and not source.is_opus()
        self._stop.clear()

        def run() -> None:
            while self._gate is not None and not self._gate.wait(0.01):
                if self._stop.is_set():
                    break
            while not self._stop.is_set():
                data = source.read()
                if not data:
                    break
                assert len(data) == FRAME_BYTES
                self.frames.append(data)
                self._stop.wait(self._interval_s)
            after(None)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def is_playing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_connected(self) -> bool:
        return True

    def stop(self) -> None:
        self._stop.set()

    async def disconnect(self, force: bool = False) -> None:
        self.stop()
