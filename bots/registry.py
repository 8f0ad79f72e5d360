"""The registry of one config: the plugins it loaded (built-ins first) and every kind they declare."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from bots.errors import PluginError
from bots.plugin import Plugin
from core.commands import CommandSpec
from core.kinds import Kind, KindClash, KindRegistry, unknown_message
from core.pipeline.commands import Command


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    """A plugin and where it came from (a file, a module or an entry point), for error messages."""

    plugin: Plugin
    source: str


BUILTIN = "builtin"
"""The name of the framework's own plugin."""


class Registry:
    """Plugins in load order and the kinds they register; the config validates ``kind:`` against it."""

    def __init__(self) -> None:
        self.kinds = KindRegistry()
        self.loaded: list[LoadedPlugin] = []

    @classmethod
    def with_builtins(cls) -> Registry:
        """A registry holding only the framework's own plugin."""
        from bots.builtins import plugin as builtin

        registry = cls()
        registry.add(builtin, "bots/builtins.py")
        return registry

    def add(self, plugin: Plugin, source: str) -> None:
        """Add ``plugin`` and register its kinds.

        Raises:
            PluginError: a plugin of that name is loaded from elsewhere, or one of its kinds is taken.
        """
        for other in self.loaded:
            if other.plugin.name == plugin.name:
                if other.plugin is plugin:
                    return
                raise PluginError(f"two plugins are named {plugin.name!r}: {other.source} and {source}")
        for decl in plugin.kinds:
            try:
                self.kinds.register(decl.category, decl.kind, decl.config, decl.factory, plugin.name)
            except KindClash as exc:
                raise PluginError(f"plugin {plugin.name} ({source}): {exc}") from None
        self.loaded.append(LoadedPlugin(plugin, source))

    @property
    def plugins(self) -> list[Plugin]:
        """Every plugin, built-ins first."""
        return [p.plugin for p in self.loaded]

    def names(self) -> list[str]:
        """The loaded plugins' names."""
        return [p.plugin.name for p in self.loaded]

    def for_bot(self, names: Sequence[str] | None) -> list[Plugin]:
        """The plugins one bot uses: the built-ins, then ``names`` (None: every loaded plugin), in load order.

        Raises:
            PluginError: a name that is not loaded (with a "did you mean").
        """
        if names is None:
            return self.plugins
        for name in names:
            if name not in self.names():
                raise PluginError(unknown_message("plugin", name, self.names()[1:]))
        return [p for i, p in enumerate(self.plugins) if i == 0 or p.name in names]

    def kind(self, category: str, config: BaseModel) -> Kind:
        """The registration a validated config section belongs to."""
        return self.kinds.for_config(category, config)

    def build(self, category: str, config: BaseModel, env: Any, kind: str | None = None) -> Any:
        """Call the factory of ``kind`` (default: ``config.kind``) with ``(config)`` or ``(config, env)``."""
        entry = self.kinds.get(category, kind) if kind is not None else self.kind(category, config)
        factory = entry.factory
        try:
            if len(inspect.signature(factory).parameters) >= 2:
                return factory(config, env)
            return factory(config)
        except Exception as exc:
            if entry.owner == BUILTIN:
                raise
            raise PluginError(
                f"plugin {entry.owner}: {category} kind {entry.kind!r} could not be built: {type(exc).__name__}: {exc}"
            ) from exc


def commands_of(plugins: Sequence[Plugin]) -> list[Command]:
    """The commands of ``plugins``; a later plugin's command of the same name replaces an earlier one."""
    by_name: dict[str, Command] = {}
    for plugin in plugins:
        for command in plugin.commands:
            by_name.pop(command.name, None)
            by_name[command.name] = command
    return list(by_name.values())


def specs_of(plugins: Sequence[Plugin]) -> tuple[CommandSpec, ...]:
    """What menus and ``/help`` list for ``plugins``."""
    return tuple(c.spec for c in commands_of(plugins))
