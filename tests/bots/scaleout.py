"""Process-level harness for scale-out tests: ``run.py gateway`` / ``run.py worker`` as real processes.

The gateway runs the real web adapter; clients talk to it over real WebSockets
(one session = one chat), the workers run the real pipeline, and everything goes
through a private redis-server (see :mod:`tests.redis_server`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import aiohttp

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, redis_url: str, web_port: int, *, delay_s: float = 0.0, claim_idle_s: float = 1.0) -> Path:
    """One bot: the web adapter, an echo engine, no voice, the redis bus and stores."""
    path.write_text(
        f"""
logging: {{level: INFO}}
bus: {{kind: redis, url: "{redis_url}", namespace: test, claim_idle_s: {claim_idle_s}}}
storage: {{kind: redis, namespace: test}}
voice: {{enabled: false}}
bots:
  - name: scale
    engines:
      - {{kind: echo, prefix: "echo: ", delay_s: {delay_s}}}
    pipeline:
      flood: {{per_user: 0, per_chat: 0}}
    adapters:
      web: {{host: 127.0.0.1, port: {web_port}}}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Proc:
    """A ``run.py`` process whose output goes to a log file."""

    role: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, ready: str, timeout_s: float = 60.0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py"), self.role, *self.args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready in self.log():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.role} exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.role} not ready after {timeout_s}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout_s: float = 20.0) -> int:
        """SIGTERM, then wait for a graceful exit."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                raise
        return int(self.process.returncode)


@dataclass
class Cluster:
    """A gateway and some workers on one config."""

    directory: Path
    redis_url: str
    delay_s: float = 0.0
    # 5 s, not less: under CPU load a live worker's heartbeat (every third of it) can come a second late,
    # and another worker would take (and answer again) messages it is still answering
    claim_idle_s: float = 5.0
    web_port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config = write_config(self.directory / "scale.yaml", self.redis_url, self.web_port, delay_s=self.delay_s, claim_idle_s=self.claim_idle_s)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.web_port}/ws"

    def gateway(self, name: str = "g1") -> Proc:
        proc = Proc("gateway", ["--config", str(self.config), "--name", name], self.directory / f"gateway-{name}.log")
        proc.start("web chat at")
        self.procs.append(proc)
        return proc

    def worker(self, name: str) -> Proc:
        proc = Proc("worker", ["--config", str(self.config), "--name", name], self.directory / f"worker-{name}.log")
        proc.start("reading the redis bus")
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.process is not None and proc.process.poll() is None:
                try:
                    proc.terminate(15)
                except subprocess.TimeoutExpired:
                    pass

    def logs(self) -> str:
        return "\n".join(f"==== {p.log_path.name}\n{p.log()[-4000:]}" for p in self.procs)


class Chats:
    """WebSocket clients, one session (chat) each, recording every final reply per chat."""

    def __init__(self, ws_url: str, n: int) -> None:
        self.ws_url = ws_url
        self.sessions = [f"chat{i:04d}-session" for i in range(n)]
        self.replies: defaultdict[str, list[str]] = defaultdict(list)
        self._http: aiohttp.ClientSession | None = None
        self._sockets: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self._readers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        self._http = aiohttp.ClientSession()
        for session in self.sessions:
            ws = await self._http.ws_connect(f"{self.ws_url}?session={session}", origin=self.ws_url.replace("ws://", "http://").rsplit("/ws", 1)[0])
            self._sockets[session] = ws
            self._readers.append(asyncio.create_task(self._read(session, ws)))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._readers:
            task.cancel()
        for ws in self._sockets.values():
            await ws.close()
        if self._http is not None:
            await self._http.close()

    async def _read(self, session: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(frame.data)
            if data.get("type") == "done":
                self.replies[session].append(data["text"])

    async def send(self, session: str, message_id: str, text: str) -> None:
        await self._sockets[session].send_json({"type": "message", "id": message_id, "text": text})

    async def send_rounds(self, first: int, last: int) -> None:
        """Messages ``first`` to ``last - 1`` in every chat, round by round (chats interleaved)."""
        for i in range(first, last):
            for s in self.sessions:
                await self.send(s, f"m{i}", text_for(s, i))

    async def wait_at_least(self, n: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.total() < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def total(self) -> int:
        return sum(len(v) for v in self.replies.values())

    async def wait_total(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.total() < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a duplicate would arrive now


def expected(sessions: list[str], per_chat: int, tag: str = "") -> dict[str, list[str]]:
    return {s: [f"echo: {tag}{s} #{i}" for i in range(per_chat)] for s in sessions}


def text_for(session: str, i: int, tag: str = "") -> str:
    return f"{tag}{session} #{i}"


WORKER_LINE = re.compile(r"worker (\S+) reading the redis bus")
