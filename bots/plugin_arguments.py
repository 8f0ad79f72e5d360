"""A plugin command's arguments: the options its handler's signature declares, and the words after the
command converted to them (``/roll 20`` calls ``roll(ctx, sides=20)``)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bots.errors import PluginError
from core.commands import CommandOption, CommandSpec, OptionType
from core.pipeline.context import Context

_TYPES: dict[Any, OptionType] = {str: "str", int: "int", float: "float", bool: "bool"}
_CONVERT: dict[OptionType, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": lambda v: {"1": True, "true": True, "yes": True, "on": True,
                       "0": False, "false": False, "no": False, "off": False}[v.lower()],
}


class UsageError(ValueError):
    """The arguments of a command do not fit its options; the user gets the usage line."""



def signature_options(func: Callable[..., Any]) -> tuple[tuple[CommandOption, ...], bool]:
    """The options a command handler's parameters declare, and whether it takes the raw text."""
    params = list(inspect.signature(func).parameters.values())[1:]
    if not params:
        return (), False
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # noqa: BLE001 - unresolvable annotations: treat as text
        hints = {}
    if len(params) == 1 and params[0].name == "args" and hints.get("args", str) is str:
        return (CommandOption("args", "what to do", "str", False),), True
    options = []
    for p in params:
        kind = _TYPES.get(hints.get(p.name, str))
        if kind is None:
            raise PluginError(f"{func.__qualname__}: parameter {p.name!r} must be str, int, float or bool")
        options.append(CommandOption(p.name, p.name.replace("_", " "), kind, p.default is inspect.Parameter.empty))
    return tuple(options), False


def parse_arguments(text: str, options: Sequence[CommandOption]) -> list[Any]:
    """Words after the command converted to the options' types; the last option gets the rest of the line.

    Raises:
        UsageError: a required option is missing or a word does not convert.
    """
    words = text.split(maxsplit=len(options) - 1) if options and text.strip() else []
    values: list[Any] = []
    for i, option in enumerate(options):
        if i >= len(words):
            if option.required:
                raise UsageError(f"missing {option.name}")
            break
        try:
            values.append(_CONVERT[option.type](words[i]))
        except (ValueError, KeyError):
            raise UsageError(f"{option.name} must be {'a number' if option.type != 'bool' else 'on or off'}") from None
    return values


def command_handler(
    func: Callable[..., Awaitable[None]], options: tuple[CommandOption, ...], raw: bool, name: str
) -> Callable[[Context, str], Awaitable[None]]:
    """Adapt a handler to the router's ``(ctx, args)``."""

    async def run(ctx: Context, args: str) -> None:
        if raw:
            await func(ctx, args)
            return
        if not options:
            await func(ctx)
            return
        try:
            values = parse_arguments(args, options)
        except UsageError as exc:
            usage = CommandSpec(name, "", options).usage()
            await ctx.reply(f"Usage: {usage} ({exc})", notice=True)
            return
        await func(ctx, *values)

    return run
