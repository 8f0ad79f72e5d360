"""The plugin API: commands, message handlers, middlewares, engines, TTS engines, adapters and hooks.

A plugin is a module that creates a :class:`Plugin` and decorates functions with it::

    from bots.plugin import Plugin

    plugin = Plugin("dice", description="Roll dice")

    @plugin.command("roll", "Roll a die with N sides")
    async def roll(ctx, args: str) -> None:
        await ctx.reply(f"You rolled {random.randint(1, int(args or 6))}")

It is enabled in ``config.yaml`` (``plugins: [dice]`` or ``plugin_dirs: [plugins]``). The framework's
own commands, engines, TTS engines and adapters are registered the same way (``bots/builtins.py``).
See ``docs/plugins.md`` for the whole reference.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from bots.errors import PluginError
from bots.plugin_arguments import command_handler, signature_options
from core.bus import Bus
from core.commands import NAME, CommandOption, CommandSpec
from core.model import ReplyDone, ReplyTarget, new_reply_id
from core.pipeline.commands import Command
from core.pipeline.context import BotServices, Context
from core.pipeline.dialogue import APOLOGY
from core.pipeline.middleware import Handler, Middleware

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["BotHandle", "BuildEnv", "Context", "Handler", "Option", "Plugin", "PluginError"]

Option = CommandOption
"""An explicit command option (``Option("sides", "how many sides", type="int")``)."""

MiddlewareFunc = Callable[[Handler, Context], Awaitable[None]]
Hook = Callable[["BotHandle"], Awaitable[None]]

ENGINE = "engine"
TTS_ENGINE = "tts_engine"
ADAPTER = "adapter"


@dataclass(frozen=True, slots=True)
class BuildEnv:
    """What a factory may need besides its config section (a factory takes ``(config)`` or ``(config, env)``).

    Attributes:
        base: the config file's folder (relative paths in config are relative to it).
        bot: the bot's name (engines and adapters), or ``""`` for the shared TTS engines.
        ffmpeg: the ffmpeg binary (TTS engines).
        bus: the bot's bus (adapters).
        speech: the speech service, or None (adapters).
        adapter_id: the id the adapter must use (adapters).
        persona_name: the bot's display name (adapters).
        commands: the bot's commands, for platform menus (adapters).
        token_hint: how to give the adapter its token, for a "disabled" log line (adapters).
        greeting: the persona's greeting, for adapters that show one before the first message.
        max_input_chars: the longest message the pipeline accepts (adapters may refuse longer ones early).
        clips_dir: a folder this adapter may keep its voice clips in, or None (adapters).
        journal_dir: a folder for an adapter's crash journal of unanswered messages, or None (adapters).
        settings: the pipeline's settings store (users' ``/voice`` choices), or None (adapters).
        listener: the speech-to-text service, or None (adapters that listen in voice channels).
        listening: the bot's ``voice_channel.listening`` config (``voice.listening.ListeningConfig``), or None.
    """

    base: Path
    bot: str = ""
    ffmpeg: str = ""
    bus: Bus | None = None
    speech: Any = None
    adapter_id: str = ""
    persona_name: str = ""
    commands: tuple[CommandSpec, ...] = ()
    token_hint: str = ""
    greeting: str = ""
    max_input_chars: int = 0
    clips_dir: Path | None = None
    journal_dir: Path | None = None
    settings: Any = None
    listener: Any = None
    listening: Any = None


@dataclass(frozen=True, slots=True)
class BotHandle:
    """A running bot, as ``on_start`` and ``on_stop`` hooks see it.

    Attributes:
        name: the bot's name in config.yaml.
        services: its persona, engine, stores and settings (``services.settings``, ``services.conversations``).
        bus: its bus; :meth:`send` puts a message on it.
    """

    name: str
    services: BotServices
    bus: Bus

    async def send(self, target: ReplyTarget, text: str) -> str:
        """Send ``text`` to ``target`` (a :attr:`Context.target` saved earlier) outside any message; returns its id."""
        reply_id = new_reply_id()
        await self.bus.send(ReplyDone(reply_id, target, text, streamed=False))
        return reply_id


@dataclass(frozen=True, slots=True)
class KindDeclaration:
    """A kind a plugin declares: ``plugin.engine("shout", config=ShoutConfig)``."""

    category: str
    kind: str
    config: type[BaseModel]
    factory: Callable[..., Any]


@dataclass(frozen=True, slots=True)
class MessageRule:
    """An ``on_message`` handler and the pattern that selects its messages (None: every message)."""

    pattern: re.Pattern[str] | None
    handler: Callable[..., Awaitable[None]]
    wants_match: bool


@dataclass(slots=True)
class Plugin:
    """A named set of extensions.

    Args:
        name: how config.yaml names it (``plugins:`` per bot, ``plugin_config:``); a short slug.
        description: one line, shown as the heading of its commands in ``/help``.
        config: a pydantic model for its settings (``plugin_config: {name: {...}}``); after loading
            the validated value is :attr:`settings`.
    """

    name: str
    description: str = ""
    config: type[BaseModel] | None = None
    settings: Any = field(default=None, init=False)
    commands: list[Command] = field(default_factory=list, init=False)
    message_rules: list[MessageRule] = field(default_factory=list, init=False)
    middlewares: list[Middleware] = field(default_factory=list, init=False)
    kinds: list[KindDeclaration] = field(default_factory=list, init=False)
    start_hooks: list[Hook] = field(default_factory=list, init=False)
    stop_hooks: list[Hook] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", self.name):
            raise PluginError(f"plugin name {self.name!r}: use lowercase letters, digits, '_', '-' or '.'")

    # -- commands and messages -------------------------------------------------------

    def command(
        self, name: str, description: str = "", *, options: Sequence[CommandOption] | None = None
    ) -> Callable[[F], F]:
        """Register ``/name``.

        The handler is ``async def h(ctx)``, ``async def h(ctx, args: str)`` (the raw text after the
        name), or takes typed parameters (``async def h(ctx, sides: int = 6, label: str = "")``) that
        are parsed from the words after the name (the last ``str`` gets the rest of the line) and
        become the Discord slash command's options. ``options`` overrides what menus show.
        """
        if not NAME.fullmatch(name):
            raise PluginError(f"plugin {self.name}: command name {name!r}: use 1-32 of a-z, 0-9 and _")

        def register(func: F) -> F:
            parsed, raw = signature_options(func)
            shown = tuple(options) if options is not None else parsed
            for option in shown:
                if not NAME.fullmatch(option.name):
                    raise PluginError(f"plugin {self.name}: /{name} option {option.name!r}: use 1-32 of a-z, 0-9 and _")
            text = description or (inspect.getdoc(func) or "").split("\n")[0] or name
            handler = _guard(self.name, f"command /{name}", command_handler(func, parsed, raw, name))
            self.commands.append(Command(name, text[:256], handler, shown, self.name))
            return func

        return register

    def on_message(self, pattern: str | re.Pattern[str] | None = None, *, flags: int = 0) -> Callable[[F], F]:
        """Handle messages that are not commands, before the dialogue engine.

        The handler (``async def h(ctx)`` or ``async def h(ctx, match)``) runs when ``pattern``
        is found in the text (``re.search``; None: every message). If it replies, the dialogue
        engine is not asked; if it returns without replying, the next handler (or the engine) answers.
        """
        compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern

        def register(func: F) -> F:
            wants_match = len(inspect.signature(func).parameters) >= 2
            guarded = _guard(self.name, f"message handler {func.__name__}", func)
            self.message_rules.append(MessageRule(compiled, guarded, wants_match))
            return func

        return register

    def middleware(self, func: F) -> F:
        """Register a middleware: ``async def m(handler, ctx)``; call ``await handler(ctx)`` to go on.

        Plugin middlewares run after the built-in ones (addressing, dedupe, validation, flood control,
        access) and before commands, in the order plugins are loaded and, within one, declared.
        A :class:`core.pipeline.middleware.Middleware` instance is accepted too.
        """
        self.middlewares.append(GuardedMiddleware(self.name, func))
        return func

    # -- kinds -----------------------------------------------------------------------

    def kind(self, category: str, kind: str, *, config: type[BaseModel]) -> Callable[[F], F]:
        """Register a factory for ``kind:`` in ``category``; :meth:`engine`, :meth:`tts_engine` and
        :meth:`adapter` are this with their category. The factory takes ``(config)`` or ``(config, env)``
        (:class:`BuildEnv`)."""

        def register(func: F) -> F:
            if any(k.category == category and k.kind == kind for k in self.kinds):
                raise PluginError(f"plugin {self.name}: {category} kind {kind!r} declared twice")
            self.kinds.append(KindDeclaration(category, kind, config, func))
            return func

        return register

    def engine(self, kind: str, *, config: type[BaseModel]) -> Callable[[F], F]:
        """A dialogue engine: ``engines: [{kind: KIND, ...}]``; the factory returns a ``DialogueEngine``."""
        return self.kind(ENGINE, kind, config=config)

    def tts_engine(self, kind: str, *, config: type[BaseModel]) -> Callable[[F], F]:
        """A TTS engine: ``voice: {engines: [{kind: KIND, ...}]}``; the factory returns a ``voice.engines.base.TtsEngine``."""
        return self.kind(TTS_ENGINE, kind, config=config)

    def adapter(self, kind: str, *, config: type[BaseModel]) -> Callable[[F], F]:
        """A platform: ``adapters: {KIND: {...}}`` of a bot; the factory returns a ``core.adapter.Adapter``
        (or None to leave it disabled) and gets ``env.adapter_id`` and ``env.bus``."""
        return self.kind(ADAPTER, kind, config=config)

    # -- lifecycle -------------------------------------------------------------------

    def on_start(self, func: F) -> F:
        """``async def hook(bot: BotHandle)``: run once per bot using the plugin, after its pipeline started."""
        self.start_hooks.append(func)
        return func

    def on_stop(self, func: F) -> F:
        """``async def hook(bot: BotHandle)``: run once per bot using the plugin, before its pipeline stops."""
        self.stop_hooks.append(func)
        return func

    @property
    def specs(self) -> list[CommandSpec]:
        """This plugin's commands as menus show them."""
        return [c.spec for c in self.commands]


# -- handlers ----------------------------------------------------------------------------


async def apologize(ctx: Context) -> None:
    """The usual apology, when nothing was answered yet."""
    if not ctx.answered and ctx.message.is_addressed:
        try:
            await ctx.reply(APOLOGY, notice=True)
        except Exception:
            log.exception("could not even apologize for %s", ctx.message.key)


def _guard(plugin: str, what: str, func: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """``func`` that logs an exception with the plugin's name and apologizes instead of raising."""

    async def guarded(ctx: Context, *args: Any) -> None:
        try:
            await func(ctx, *args)
        except Exception:
            log.exception("plugin %s: %s failed on %s", plugin, what, ctx.message.key)
            ctx.state["plugin_failed"] = plugin
            await apologize(ctx)

    guarded.__name__ = getattr(func, "__name__", "handler")
    return guarded


class GuardedMiddleware(Middleware):
    """A plugin's middleware: its own exceptions are logged with the plugin's name and apologized for;
    exceptions from the rest of the pipeline (called through ``handler``) pass through untouched."""

    def __init__(self, plugin: str, func: MiddlewareFunc | Middleware) -> None:
        self.plugin = plugin
        self.func = func
        self.name = getattr(func, "__name__", type(func).__name__)

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        inner_raised = False

        async def inner(c: Context) -> None:
            nonlocal inner_raised
            try:
                await handler(c)
            except BaseException:
                inner_raised = True
                raise

        try:
            await self.func(inner, ctx)
        except Exception:
            if inner_raised:
                raise
            log.exception("plugin %s: middleware %s failed on %s", self.plugin, self.name, ctx.message.key)
            ctx.state["plugin_failed"] = self.plugin
            await apologize(ctx)


class MessageHandlers(Middleware):
    """Runs the ``on_message`` handlers whose pattern matches, in order, until one replies; the
    dialogue engine answers what none of them did."""

    sends_after_handler = False

    def __init__(self, rules: Sequence[MessageRule]) -> None:
        self.rules = list(rules)

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        text = ctx.message.text
        for rule in self.rules:
            match = rule.pattern.search(text) if rule.pattern is not None else None
            if rule.pattern is not None and match is None:
                continue
            ctx.state["match"] = match
            await (rule.handler(ctx, match) if rule.wants_match else rule.handler(ctx))
            if ctx.answered or "plugin_failed" in ctx.state:
                return
        await handler(ctx)
