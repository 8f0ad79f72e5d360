"""What a command looks like from outside: its name, description and options (for menus and ``/help``).

The bots package builds these from the registry (built-in and plugin commands alike) and hands them
to the adapters, which turn them into Telegram's command menu and Discord's slash commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

OptionType = Literal["str", "int", "float", "bool"]

NAME = re.compile(r"^[a-z0-9_]{1,32}$")
"""A command or option name every platform accepts (Telegram: a-z, 0-9, _; Discord: lowercase)."""


@dataclass(frozen=True, slots=True)
class CommandOption:
    """One argument of a command, in order: ``/roll 20`` has the option ``sides``."""

    name: str
    description: str = ""
    type: OptionType = "str"
    required: bool = False


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command as menus and ``/help`` show it.

    Attributes:
        name: without the slash, lowercase (``roll``).
        description: one line.
        options: its arguments, in the order they are written after the command.
        group: the plugin it comes from (``/help`` groups by it).
    """

    name: str
    description: str
    options: tuple[CommandOption, ...] = ()
    group: str = ""

    def usage(self) -> str:
        """``/roll [sides]``: required options in angle brackets, optional ones in square brackets."""
        parts = [f"/{self.name}"] + [f"<{o.name}>" if o.required else f"[{o.name}]" for o in self.options]
        return " ".join(parts)
