"""A private ``redis-server`` for tests and benchmarks: a free port, its own directory, stop/restart at will.

It never touches the machine's own instance on 6379. By default the append-only file
is on (``appendfsync always``) so a restart keeps the streams, as a production
deployment of the bus must; benchmarks turn persistence off.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process under test control."""

    def __init__(self, directory: Path, port: int | None = None, persistent: bool = True) -> None:
        if REDIS_SERVER is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed: required when CI=true (apt-get install redis-server)")
            pytest.skip("redis-server is not installed (apt-get install redis-server); required when CI=true")
        self.directory = directory
        self.port = port or free_port()
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None
        # also listening on a Unix socket; its own short directory (a socket path holds at most 107 bytes)
        self.socket_path = Path(tempfile.mkdtemp(prefix="redis-")) / "redis.sock"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        """The same server through its Unix socket."""
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(exist_ok=True)
        self.process = subprocess.Popen(
            [
                REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
                *(("--appendonly", "yes", "--appendfsync", "always") if self.persistent else ("--appendonly", "no")),
                "--save", "", "--protected-mode", "no",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def flushall(self) -> None:
        """Empty every database (between benchmark cases)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"FLUSHALL\r\n")
            if not s.recv(64).startswith(b"+OK"):
                raise RuntimeError("FLUSHALL failed")

    def stop(self) -> None:
        """Stop it (SIGTERM: the append-only file is complete)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        self.process = None
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()
