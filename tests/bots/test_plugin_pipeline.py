"""Plugins in a running bot, through the web chat: middleware order, message handlers before the engine,
typed command arguments, /help grouped by plugin, and a raising handler that never takes the bot down."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from core.pipeline.dialogue import APOLOGY
from tests.bots.plugin_app import app_config, load, running, web_chat

ORDER = '''
from bots.plugin import Plugin

plugin = Plugin("{name}")
TRACE: list[str] = []

@plugin.middleware
async def first(handler, ctx):
    ctx.state.setdefault("trace", []).append("{name}.first")
    await handler(ctx)

@plugin.middleware
async def second(handler, ctx):
    ctx.state.setdefault("trace", []).append("{name}.second")
    await handler(ctx)

@plugin.command("trace_{name}", "show the middlewares passed")
async def trace(ctx) -> None:
    await ctx.reply(" > ".join(ctx.state["trace"]))
'''

BOOM = '''
from bots.plugin import Plugin

plugin = Plugin("boom")

@plugin.command("boom", "always fails")
async def boom(ctx) -> None:
    raise RuntimeError("kaboom in a command")

@plugin.on_message(pattern=r"explode")
async def explode(ctx) -> None:
    raise ValueError("kaboom in a message handler")

@plugin.middleware
async def picky(handler, ctx):
    if ctx.message.text == "bad middleware":
        raise KeyError("kaboom in a middleware")
    await handler(ctx)
'''

TOOLS = '''
from bots.plugin import Plugin, Option

plugin = Plugin("tools", description="Tools")

@plugin.command("add", "add two numbers")
async def add(ctx, a: int, b: float = 0.5) -> None:
    await ctx.reply(f"sum {a + b:g}")

@plugin.command("echo", "say it back", options=[Option("words", "what to say", required=True)])
async def echo(ctx, args: str) -> None:
    await ctx.reply(f"raw [{args}]")

@plugin.on_message(pattern=r"(?i)\\bweather in (\\w+)")
async def weather(ctx, match) -> None:
    await ctx.reply(f"sunny in {match.group(1)}")

@plugin.on_message()
async def passes(ctx) -> None:
    ctx.state["seen_by_tools"] = True  # no reply: the engine answers
'''


def _plugins(tmp_path: Path, **files: str) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    for name, source in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))


async def test_middlewares_run_in_load_order_then_declaration_order(tmp_path: Path) -> None:
    _plugins(tmp_path, a_first=ORDER.format(name="a_first"), b_second=ORDER.format(name="b_second"))
    config = load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        done = await chat.ask("/trace_b_second")
    assert done["text"] == "a_first.first > a_first.second > b_second.first > b_second.second"


async def test_a_raising_handler_is_logged_with_its_plugin_and_the_user_gets_the_apology(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _plugins(tmp_path, boom=BOOM)
    config = load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        with caplog.at_level(logging.ERROR):
            for text in ("/boom", "please explode", "bad middleware"):
                done = await chat.ask(text)
                assert done["text"] == APOLOGY and done["notice"] is True
        assert (await chat.ask("still alive?"))["text"] == "echo: still alive?"
        assert app.bots[0].pipeline.failed == 0  # type: ignore[union-attr]
    logged = [(r.getMessage(), r.exc_info[1] if r.exc_info else None) for r in caplog.records if r.name == "bots.plugin"]
    assert [m.split(" failed on ")[0] for m, _ in logged] == [
        "plugin boom: command /boom",
        "plugin boom: message handler explode",
        "plugin boom: middleware picky",
    ]
    assert [type(e).__name__ for _, e in logged] == ["RuntimeError", "ValueError", "KeyError"]


async def test_a_middleware_failure_is_blamed_on_its_own_plugin_not_on_outer_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _plugins(tmp_path, boom=BOOM, raising_command=textwrap.dedent('''
        from bots.plugin import Plugin
        plugin = Plugin("inner")

        @plugin.middleware
        async def crash_inside(handler, ctx):
            if ctx.message.text == "inner":
                raise OSError("from further in")
            await handler(ctx)
    '''))
    config = load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        with caplog.at_level(logging.ERROR):
            assert (await chat.ask("inner"))["text"] == APOLOGY
    # the boom plugin's middleware (outer) passed the error on; only the inner plugin is named
    messages = [r.getMessage() for r in caplog.records if r.name == "bots.plugin"]
    assert len(messages) == 1 and messages[0].startswith("plugin inner: middleware crash_inside failed")


async def test_typed_arguments_raw_arguments_and_message_patterns(tmp_path: Path) -> None:
    _plugins(tmp_path, tools=TOOLS)
    config = load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        assert (await chat.ask("/add 2"))["text"] == "sum 2.5"
        assert (await chat.ask("/add 2 3"))["text"] == "sum 5"
        usage = await chat.ask("/add two")
        assert usage["text"] == "Usage: /add <a> [b] (a must be a number)" and usage["notice"]
        assert (await chat.ask("/add"))["text"] == "Usage: /add <a> [b] (missing a)"
        assert (await chat.ask("/echo  many   spaced words "))["text"] == "raw [many   spaced words]"
        assert (await chat.ask("What's the weather in Paris?"))["text"] == "sunny in Paris"
        assert (await chat.ask("hello"))["text"] == "echo: hello"


async def test_help_lists_every_command_grouped_by_plugin(tmp_path: Path) -> None:
    _plugins(tmp_path, tools=TOOLS, boom=BOOM)
    config = load(app_config(tmp_path, plugin_dirs=["plugins"]), tmp_path)
    async with running(config, tmp_path) as app, web_chat(app) as chat:
        text = (await chat.ask("/help"))["text"]
    sections = text.split("\n\n")
    assert sections[1].startswith("Commands:\n/start - say hello\n/help - what I can do\n/reset")
    assert sections[2] == "Boom:\n/boom - always fails"
    assert sections[3] == "Tools:\n/add <a> [b] - add two numbers\n/echo <words> - say it back"


def test_message_handlers_are_a_step_of_the_pipeline_only_when_a_plugin_has_some() -> None:
    """Issue 15: without message rules (the built-ins alone) the pipeline has no step that looks at every
    message for nothing; the in-process benchmark and a worker then run the same chain."""
    from bots.plugin import MessageHandlers, Plugin
    from bots.registry import Registry
    from bots.runtime import plugin_middlewares
    from core.pipeline.pipeline import default_middlewares

    builtins = Registry.with_builtins().plugins
    chain = plugin_middlewares(builtins)
    assert not any(isinstance(m, MessageHandlers) for m in chain)
    assert [type(m) for m in chain] == [type(m) for m in default_middlewares()]
    greeter = Plugin("greeter")

    @greeter.on_message(pattern=r"hello")
    async def hello(ctx) -> None:  # type: ignore[no-untyped-def]
        await ctx.reply("hi")

    with_rules = plugin_middlewares([*builtins, greeter])
    assert isinstance(with_rules[-1], MessageHandlers) and len(with_rules[-1].rules) == 1
