"""For plugin tests: an App built from a config dict (its plugins loaded like config.yaml's), with its
web chat on a free port, and a WebSocket client to talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bots.config import AppConfig, parse_config
from bots.runtime import App
from tests.adapters.web.harness import Client

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


def app_config(tmp_path: Path, bots: list[dict[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    """A config document: SQLite in ``tmp_path``, voice off, one echo bot with a web chat unless ``bots``."""
    bot = {"name": "b", "engines": [{"kind": "echo", "prefix": "echo: "}], "adapters": {"web": {"port": 0}},
           "pipeline": {"flood": {"per_user": 0, "per_chat": 0}}}
    return {
        "storage": {"kind": "sqlite", "path": str(tmp_path / "db.sqlite3")},
        "voice": {"enabled": False},
        "bots": bots if bots is not None else [bot],
        **top,
    }


def load(raw: dict[str, Any], base: Path) -> AppConfig:
    """``raw`` validated as if it were ``base/config.yaml``."""
    return parse_config(raw, str(base / "config.yaml"))


@asynccontextmanager
async def running(config: AppConfig, base: Path) -> AsyncIterator[App]:
    """The app, started; stopped afterwards."""
    app = App(config, base)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@asynccontextmanager
async def web_chat(app: App, bot: int = 0, session: str = "session-plugins1") -> AsyncIterator[Client]:
    """A WebSocket client of ``app``'s bot number ``bot``, past the welcome frame."""
    url = app.bots[bot].adapters[0].url  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url.rstrip('/')}/ws?session={session}") as ws:
        client = Client(ws)
        client.welcome = await client.recv(10)
        yield client
