"""Commands (``/start``, ``/help``, ``/reset``, ``/voice``, ``/voices``) and their router."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.commands import CommandOption, CommandSpec
from core.engines.kb.unanswered import UnansweredLog
from core.errors import SpeechError
from core.model import SkipReason
from core.pipeline.context import Context
from core.pipeline.middleware import Handler, Middleware
from core.pipeline.voiceprefs import chat_scope, resolve, user_scope

log = logging.getLogger(__name__)

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """``/name@bot args`` split into its parts (``bot`` empty when not given)."""

    name: str
    args: str
    bot: str = ""


def parse_command(text: str) -> ParsedCommand | None:
    """Parse a leading slash command, or return None."""
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return ParsedCommand(match.group(1).lower(), (match.group(3) or "").strip(), match.group(2) or "")


CommandHandler = Callable[[Context, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Command:
    """A command: its name, a one-line description and the coroutine that runs it.

    ``options`` describe its arguments for menus (the handler still gets the raw text after the name);
    ``group`` is the plugin it belongs to, for ``/help``.
    """

    name: str
    description: str
    handler: CommandHandler
    options: tuple[CommandOption, ...] = ()
    group: str = ""

    @property
    def spec(self) -> CommandSpec:
        """How menus and ``/help`` show this command."""
        return CommandSpec(self.name, self.description, self.options, self.group)


class CommandRouter(Middleware):
    """Runs known commands; everything else goes on to the dialogue handler.

    A command addressed to another bot (``/help@otherbot``) is ignored.
    Unknown commands get a short hint instead of a dialogue answer.
    """

    sends_after_handler = False

    def __init__(self, commands: list[Command] | None = None, bot_username: str = "") -> None:
        self.commands: dict[str, Command] = {}
        self.bot_username = bot_username.lower()
        for command in commands if commands is not None else builtin_commands():
            self.add(command)

    def add(self, command: Command) -> None:
        """Register (or replace) a command."""
        self.commands[command.name] = command

    async def __call__(self, handler: Handler, ctx: Context) -> None:
        parsed = parse_command(ctx.message.text)
        if parsed is None:
            await handler(ctx)
            return
        if parsed.bot and self.bot_username and parsed.bot.lower() != self.bot_username:
            ctx.skipped = SkipReason.NOT_FOR_US
            return
        command = self.commands.get(parsed.name)
        if command is None:
            await ctx.reply(f"I don't know /{parsed.name}. Try /help.", notice=True)
            return
        await command.handler(ctx, parsed.args)


async def _start(ctx: Context, args: str) -> None:
    await ctx.reply(ctx.services.persona.greeting)


def help_text(persona_name: str, persona_description: str, commands: list[CommandSpec]) -> str:
    """``/help``: who the bot is, then every command grouped by the plugin it comes from (built-ins first)."""
    lines = [f"I'm {persona_name}. {persona_description}"]
    groups: dict[str, list[CommandSpec]] = {}
    for spec in commands:
        groups.setdefault(spec.group, []).append(spec)
    for group, specs in groups.items():
        lines += ["", f"{group.capitalize() if group and group != 'builtin' else 'Commands'}:"]
        lines += [f"{s.usage()} - {s.description}" for s in specs]
    return "\n".join(lines)


def _help_text(ctx: Context) -> str:
    specs = list(ctx.services.commands) or [c.spec for c in builtin_commands()]
    return help_text(ctx.services.persona.name, ctx.services.persona.description, specs)


async def _help(ctx: Context, args: str) -> None:
    await ctx.reply(_help_text(ctx))


async def _reset(ctx: Context, args: str) -> None:
    await ctx.services.conversations.clear(ctx.message.chat_key)
    await ctx.services.memory.forget(ctx.message.chat_key)
    await ctx.reply("Done: I've forgotten our conversation in this chat.")


_RATE = re.compile(r"^rate\s+([0-9]*\.?[0-9]+)$")


async def _voice(ctx: Context, args: str) -> None:
    store = ctx.services.settings
    word = args.strip()
    low = word.lower()
    if low in {"on", "off"}:
        await store.update(chat_scope(ctx), {"voice": low == "on"})
        extra = "" if ctx.services.speech or low == "off" else " (no speech engine is configured for this bot yet)"
        await ctx.reply(f"Voice replies are {low} for this chat.{extra}")
        return
    if rate := _RATE.match(low):
        value = float(rate.group(1))
        if not 0.5 <= value <= 2.0:
            await ctx.reply("The rate must be between 0.5 and 2.0.", notice=True)
            return
        await store.update(user_scope(ctx), {"voice_rate": value})
        await ctx.reply(f"I'll speak to you at rate {value:g}.")
        return
    if word:
        names = await _voice_names(ctx)
        if names and word not in names:
            await ctx.reply(f"Unknown voice {word!r}. See /voices.", notice=True)
            return
        await store.update(user_scope(ctx), {"voice_name": word})
        await store.update(chat_scope(ctx), {"voice": True})
        await ctx.reply(f"I'll speak to you with the voice {word}.")
        return
    current = await resolve(ctx, ctx.services.persona.language)
    state = "on" if current.enabled else "off"
    voice = current.voice or "the default for the language"
    await ctx.reply(
        f"Voice replies are {state} in this chat; your voice: {voice}, rate {current.rate:g}. "
        "Use /voice on, /voice off, /voice NAME or /voice rate 1.2."
    )


async def _voice_names(ctx: Context) -> set[str]:
    if ctx.services.speech is None:
        return set()
    try:
        return {v.name for v in await ctx.services.speech.voices()}
    except SpeechError:
        return set()


async def _voices(ctx: Context, args: str) -> None:
    speech = ctx.services.speech
    if speech is None:
        await ctx.reply("No speech engine is configured for this bot.")
        return
    voices = await speech.voices()
    if not voices:
        await ctx.reply("No voices are available right now.")
        return
    lines = ["Voices (use /voice NAME):"]
    for v in voices:
        status = "" if v.available else " (unavailable now)"
        lines.append(f"- {v.name} [{v.language}, {v.engine}]{status}")
    await ctx.reply("\n".join(lines))


def unanswered_logs(ctx: Context) -> list[UnansweredLog]:
    """The unanswered-question logs of the bot's engines (knowledge bases with ``fallback: handoff``)."""
    engine = ctx.services.engine
    engines = getattr(engine, "engines", [engine])
    return [log for e in engines if isinstance(log := getattr(e, "unanswered", None), UnansweredLog)]


async def _unanswered(ctx: Context, args: str) -> None:
    logs = unanswered_logs(ctx)
    if not logs:
        await ctx.reply("This bot has no knowledge base that records unanswered questions.")
        return
    limit = int(args) if args.isdigit() and 0 < int(args) <= 100 else 10
    records = [r for log in logs for r in await log.recent(limit)]
    records = sorted(records, key=lambda r: r.at)[-limit:]
    if not records:
        await ctx.reply("No unanswered questions so far.")
        return
    lines = [f"The last {len(records)} questions the knowledge base could not answer (newest last):"]
    lines += [f"- {r.question} (closest: {r.best_id or '-'}, {r.best_score:.2f})" for r in records]
    lines.append(f"All of them: {', '.join(str(log.path) for log in logs)}")
    await ctx.reply("\n".join(lines))


def builtin_commands() -> list[Command]:
    """The commands every bot has."""
    return [
        Command("start", "say hello", _start),
        Command("help", "what I can do", _help),
        Command("reset", "forget this chat's history", _reset),
        Command(
            "voice",
            "voice replies in this chat: on or off; your voice: a name, or rate 0.5-2.0",
            _voice,
            (CommandOption("setting", "on, off, a voice name, or rate 1.2"),),
        ),
        Command("voices", "list the voices I can speak with", _voices),
        Command("unanswered", "questions the knowledge base could not answer (admins: /unanswered 20)", _unanswered),
    ]
