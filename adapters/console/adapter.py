"""The console adapter: one private chat with the bot in the terminal.

Lines typed on stdin become messages; streamed replies are printed as they
arrive; voice replies are written to files whose paths are printed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from adapters.console.config import ConsoleConfig
from core.adapter import Adapter
from core.bus import Bus
from core.model import (
    Addressed,
    Author,
    Chat,
    ChatAction,
    ChatKind,
    IncomingMessage,
    OutgoingEvent,
    ReplyDelta,
    ReplyDone,
    ReplySkipped,
    ReplyVoice,
)
from core.sanitize import clean_text


class ConsoleAdapter(Adapter):
    """Reads stdin, writes stdout. ``closed`` is set when stdin ends or ``/quit`` is typed."""

    platform = "console"

    def __init__(
        self,
        adapter_id: str,
        bus: Bus,
        config: ConsoleConfig,
        bot_name: str = "bot",
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        voice_dir: Path = Path("data/voice"),
    ) -> None:
        super().__init__(adapter_id, bus)
        self.config = config
        self.bot_name = bot_name
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.voice_dir = voice_dir
        self.closed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._chat = Chat("console", ChatKind.PRIVATE, "console")
        self._author = Author("local", config.user)
        self._seq = 0
        self._streaming: set[str] = set()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def connect(self) -> None:
        self._reader = asyncio.create_task(self._read_lines(), name=f"{self.adapter_id}-stdin")

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

    def _write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    async def _read_lines(self) -> None:
        self._write(f"Talking to {self.bot_name}. Type /quit to leave.\n")
        while True:
            try:  # wait for the answer before prompting again, but never hang
                await asyncio.wait_for(self._idle.wait(), 60)
            except TimeoutError:
                self._pending = 0
            self._write(f"{self.config.user}> ")
            line = await asyncio.to_thread(self.stdin.readline)
            if not line or line.strip() in {"/quit", "/exit"}:
                self.closed.set()
                return
            self._seq += 1
            self._pending += 1
            self._idle.clear()
            await self.bus.publish(
                IncomingMessage(
                    platform=self.platform,
                    origin=self.adapter_id,
                    chat=self._chat,
                    author=self._author,
                    message_id=f"{time.time_ns()}-{self._seq}",
                    text=clean_text(line.rstrip("\n")),
                    addressed=Addressed.PRIVATE,
                )
            )

    async def deliver(self, event: OutgoingEvent) -> None:
        if isinstance(event, ReplyDelta):
            if event.reply_id not in self._streaming:
                self._streaming.add(event.reply_id)
                self._write(f"{self.bot_name}> ")
            self._write(event.text)
        elif isinstance(event, ReplyDone):
            if event.reply_id in self._streaming:
                self._streaming.discard(event.reply_id)
                self._write("\n")
            else:
                self._write(f"{self.bot_name}> {event.text}\n")
            self._answered()
        elif isinstance(event, ReplySkipped):
            self._write(f"  (not answered: {event.reason})\n")
            self._answered()
        elif isinstance(event, ReplyVoice):
            path = self.voice_dir / f"{event.reply_id}.ogg"
            await asyncio.to_thread(self._save, path, event.clip.data)
            self._write(f"  (voice reply, {event.clip.duration_s:.1f} s: {path})\n")
        elif isinstance(event, ChatAction):
            return

    def _answered(self) -> None:
        self._pending = max(0, self._pending - 1)
        if not self._pending:
            self._idle.set()

    @staticmethod
    def _save(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
