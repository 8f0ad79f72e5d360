"""examples/plugins/rest_engine.py: the ``rest`` engine kind asks a real HTTP service (a local aiohttp
server), falls through to the next engine when it has no answer or fails, and sends its headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bots.errors import ConfigError
from tests.bots.plugin_app import EXAMPLES, app_config, load, running, web_chat


class Service:
    """A tiny FAQ service: knows "hours"; 404 for the rest; 500 on "crash"."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, Any], str]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def answer(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((body, request.headers.get("Authorization", "")))
        if "crash" in body["text"]:
            return web.Response(status=500)
        if "hours" in body["text"]:
            return web.json_response({"answer": "9 to 5, weekdays."})
        return web.json_response({"answer": None}, status=404)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/answer", self.answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/answer"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    s = Service()
    await s.start()
    yield s
    await s.stop()


async def test_rest_engine_answers_and_falls_through(tmp_path: Path, service: Service) -> None:
    bot = {
        "name": "b",
        "engines": [
            {"kind": "rest", "url": service.url, "headers": {"Authorization": "Bearer ${FAQ_TOKEN}"}},
            {"kind": "echo", "prefix": "fallback: "},
        ],
        "adapters": {"web": {"port": 0}},
    }
    raw = app_config(tmp_path, bots=[bot], plugin_dirs=[str(EXAMPLES)])
    from bots.config import parse_config

    config = parse_config(raw, str(tmp_path / "config.yaml"), env={"FAQ_TOKEN": "s3cret"})
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        assert (await chat.ask("what are your hours?"))["text"] == "9 to 5, weekdays."
        assert (await chat.ask("something else"))["text"] == "fallback: something else"
        assert (await chat.ask("crash please"))["text"] == "fallback: crash please"
    body, auth = service.requests[1]
    assert auth == "Bearer s3cret"
    assert body["text"] == "something else" and body["chat"].startswith("web:")
    assert [t["text"] for t in body["history"]] == ["what are your hours?", "9 to 5, weekdays."]


def test_a_bad_url_is_a_config_error(tmp_path: Path) -> None:
    bot = {"name": "b", "engines": [{"kind": "rest", "url": "ftp://x"}]}
    with pytest.raises(ConfigError, match=r"bots.0.engines.0.url: String should match pattern"):
        load(app_config(tmp_path, bots=[bot], plugin_dirs=[str(EXAMPLES)]), tmp_path)
