"""Regression (issue 19, item 4): no configured secret reaches any log line, whatever its source.

A whole bot (console adapter, real pipeline, the OpenAI-compatible engine) runs against a
fake server that answers 401 with the request's ``Authorization`` header echoed in the
body, at DEBUG, in text and in JSON. The key comes from ``api_key_env`` (the leak that
was found), from a literal ``api_key``, and the Telegram token from ``${VAR}``.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.console.adapter import ConsoleAdapter
from bots.config import parse_config
from bots.logs import collect_secrets, setup_logging
from bots.runtime import App
from core import redaction
from tests.core.engines.llm.fake_openai import FakeOpenAI, Scripted

ENV_KEY = "sk-from-env-0123456789abcdef"
LITERAL_KEY = "sk-literal-fedcba9876543210"
TG_TOKEN = "654321:AAHsecretTelegramToken"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    redaction.forget_all()
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        redaction.forget_all()


def _raw(tmp_path: Path, base_url: str) -> dict[str, object]:
    engines = [
        {"kind": "openai", "base_url": base_url, "model": "m", "api_key_env": "VB_TEST_LLM_KEY", "max_retries": 0},
        {"kind": "openai", "base_url": base_url, "model": "m", "api_key": LITERAL_KEY, "max_retries": 0},
    ]
    return {
        "logging": {"level": "DEBUG"},
        "storage": {"kind": "sqlite", "path": str(tmp_path / "db.sqlite3")},
        "voice": {"enabled": False},
        "bots": [{"name": "b", "engines": engines, "adapters": {"telegram": {"token": "${VB_TEST_TG}"}}}],
    }


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("given", [True, False], ids=["collected-at-start", "registered-only"])
async def test_no_secret_in_any_log_format_at_debug(
    server: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
    as_json: bool,
    given: bool,
) -> None:
    monkeypatch.setenv("VB_TEST_LLM_KEY", ENV_KEY)
    config = parse_config(_raw(tmp_path, server.base_url), env={"VB_TEST_TG": TG_TOKEN})
    secrets = collect_secrets(config)
    assert set(secrets) == {ENV_KEY, LITERAL_KEY, TG_TOKEN}
    # "registered-only": nothing handed to the formatter; the engine registers its key itself.
    setup_logging("DEBUG", secrets if given else [LITERAL_KEY, TG_TOKEN], as_json)
    server.script.extend([Scripted(status=401, echo_auth=True), Scripted(status=401, echo_auth=True)])

    app = App(config, tmp_path, console_only="b", with_voice=False)
    console = app.bots[0].adapters[0]
    assert isinstance(console, ConsoleAdapter)
    console.stdin = io.StringIO("hello\n/quit\n")
    console.stdout = io.StringIO()
    await app.start()
    await asyncio.wait_for(console.closed.wait(), 10)
    pipeline = app.bots[0].pipeline
    assert pipeline is not None
    await pipeline.idle()
    logging.getLogger("test.secrets").error("telegram token %s and %s", TG_TOKEN, f"Bearer {ENV_KEY}")
    await app.stop()
    for handler in logging.getLogger().handlers:
        handler.flush()

    err = capsys.readouterr().err
    assert len(server.headers) == 2 and server.headers[0]["Authorization"] == f"Bearer {ENV_KEY}"
    assert "refused the API key (401)" in err and "Bearer ***" in err  # the leak path was exercised
    for secret in (ENV_KEY, LITERAL_KEY, TG_TOKEN):
        assert secret not in err
        assert secret[4:20] not in err


def test_url_passwords_and_env_named_keys_are_collected(tmp_path: Path) -> None:
    raw = _raw(tmp_path, "http://127.0.0.1:1/v1")
    raw["bus"] = {"kind": "redis", "url": "redis://:p%40ss-word-42@127.0.0.1:6379/0"}
    config = parse_config(raw, env={"VB_TEST_TG": TG_TOKEN})
    assert set(collect_secrets(config, env={"VB_TEST_LLM_KEY": ENV_KEY})) == {
        ENV_KEY, LITERAL_KEY, TG_TOKEN, "p@ss-word-42", "p%40ss-word-42"
    }
