"""``python run.py`` as a user runs it: options of ``run`` without naming it, and the Ctrl+C summary."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bots.cli import COMMANDS, with_default_command

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, extra_adapters: str = "") -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "storage: {kind: memory}\nvoice: {enabled: false}\n"
        "bots:\n  - name: x\n    engines: [{kind: echo}]\n"
        f"    adapters: {{web: {{port: 0}}{extra_adapters}}}\n"
    )
    return cfg


class Process:
    """``run.py`` in a child process, its output read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "run.py"), *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        return cls(proc)

    async def until(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if found := re.search(pattern, line):
                    return found
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern!r} in:\n" + "".join(self.lines)
            line = (await asyncio.wait_for(self.proc.stdout.readline(), remaining)).decode()
            assert line, f"exited ({await self.proc.wait()}) before {pattern!r}:\n" + "".join(self.lines)
            self.lines.append(line)

    async def finish(self, timeout: float = 30.0) -> tuple[int, list[str]]:
        assert self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        self.lines += rest.decode().splitlines(keepends=True)
        return await self.proc.wait(), self.lines

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


def test_run_is_the_default_command_for_its_own_options() -> None:
    assert with_default_command(["--metrics-port", "9464"], COMMANDS) == ["run", "--metrics-port", "9464"]
    assert with_default_command(["--config", "check", "--metrics-port", "1"], COMMANDS)[0] == "run"  # a file named check
    assert with_default_command(["--config", "c.yaml", "check"], COMMANDS) == ["--config", "c.yaml", "check"]
    assert with_default_command([], COMMANDS) == ["run"]
    assert with_default_command(["--help"], COMMANDS) == ["--help"]


async def test_metrics_port_without_run_serves_metrics_and_ctrl_c_says_how_many_replies_went_out(tmp_path: Path) -> None:
    proc = await Process.start("--config", str(_config(tmp_path)), "--metrics-port", "0", "--log-level", "WARNING")
    try:
        web = (await proc.until(r"x: web chat at (\S+)")).group(1)
        metrics_url = (await proc.until(r"metrics at (\S+)metrics")).group(1)
        await proc.until("Press Ctrl\\+C to stop")
        async with aiohttp.ClientSession() as http:
            async with http.get(metrics_url + "metrics") as resp:
                assert resp.status == 200 and "bot_messages_out_total" in await resp.text()
            async with http.ws_connect(web.replace("http://", "ws://") + "ws") as ws:
                assert json.loads((await ws.receive(10)).data)["type"] == "welcome"
                for n in range(2):
                    await ws.send_str(json.dumps({"type": "message", "id": f"m{n}", "text": f"hello {n}"}))
                    while json.loads((await ws.receive(10)).data)["type"] != "done":
                        pass
                proc.proc.send_signal(signal.SIGINT)
                code, lines = await proc.finish()
    finally:
        proc.kill()
    assert code == 0, "".join(lines)
    tail = [line for line in lines if line.startswith("stopped")]
    assert tail == ["stopped: 2 replies delivered, 0 of them while stopping\n"], "".join(lines)
    assert lines[-1].startswith("stopped"), "".join(lines)
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in lines), "".join(lines)


async def test_summary_is_printed_while_a_silent_telegram_is_still_connecting(tmp_path: Path) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, read, never answer: what an unreachable network looks like to a client
        writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    telegram = (f", telegram: {{token: '123:abc', base_url: 'http://127.0.0.1:{port}/bot', "
                "request_timeout_s: 60}")
    started = time.monotonic()
    proc = await Process.start("--config", str(_config(tmp_path, telegram)))
    try:
        await proc.until(r"x: web chat at http")
        await proc.until(r"x: telegram still connecting, in the background")
        await proc.until("Press Ctrl\\+C to stop")
        assert time.monotonic() - started < 30  # long before the 60 s request timeout
        proc.proc.send_signal(signal.SIGINT)
        code, lines = await proc.finish()
    finally:
        proc.kill()
        silent.close()
    assert code == 0, "".join(lines)
    assert lines[-1] == "stopped: 0 replies delivered, 0 of them while stopping\n", "".join(lines)
    assert not any("123:abc" in line for line in lines)


def test_every_sub_command_is_known_to_the_default_command_rule() -> None:
    """Guards `run.py hear FILE` being taken for `run hear FILE` (a command missing from COMMANDS)."""
    import argparse

    from bots.cli import _parser

    parser = _parser()
    choices = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(choices) == COMMANDS


def test_an_installed_command_without_a_config_here_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Guards `voicebots` run from a folder without config.yaml (an installed package) failing with a bare OSError."""
    from bots import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "DEFAULT_CONFIG", Path("config.yaml"))
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert "no config.yaml in" in err and "--config FILE" in err
