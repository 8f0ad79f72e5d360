"""Regression (issue 19, item 1): undecodable terminal bytes (lone surrogates) reach neither the history nor the output as such."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from pathlib import Path

from adapters.console.adapter import ConsoleAdapter
from bots.config import parse_config
from bots.runtime import App


async def test_lone_surrogate_typed_in_the_terminal_is_answered_replaced_and_stored(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    raw = {
        "storage": {"kind": "sqlite", "path": str(db)},
        "voice": {"enabled": False},
        "bots": [{"name": "b", "engines": [{"kind": "echo", "prefix": "echo: "}]}],
    }
    app = App(parse_config(raw), tmp_path, console_only="b", with_voice=False)
    console = app.bots[0].adapters[0]
    assert isinstance(console, ConsoleAdapter)
    # what Python's stdin gives for the byte 0xff under surrogateescape
    console.stdin = io.StringIO(b"caf\xff latte\n/quit\n".decode("utf-8", "surrogateescape"))
    out = console.stdout = io.StringIO()
    await app.start()
    await asyncio.wait_for(console.closed.wait(), 10)
    pipeline = app.bots[0].pipeline
    assert pipeline is not None
    await pipeline.idle()
    await app.stop()
    assert "Bot> echo: caf\ufffd latte\n" in out.getvalue()
    out.getvalue().encode("utf-8")  # printable to a UTF-8 terminal
    rows = sqlite3.connect(db).execute("SELECT text FROM turns ORDER BY id").fetchall()
    assert rows == [("caf\ufffd latte",), ("echo: caf\ufffd latte",)]
