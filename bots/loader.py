"""Loading the plugins a config names: module names, plugin folders and installed entry points.

Order: the built-ins, then ``plugin_dirs`` (each folder's modules sorted by name), then ``plugins``
(an entry point of the group ``voicebots.plugins`` with that name, else a module importable by that
name). Every failure stops start-up with a :class:`PluginError` naming the config file, the plugin,
where it is and why.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from bots.errors import PluginError
from bots.paths import resolve_existing
from bots.plugin import Plugin
from bots.registry import Registry

ENTRY_POINT_GROUP = "voicebots.plugins"

_DIR_PACKAGE = "voicebots_plugin_dirs"


def load_plugins(data: dict[str, Any], source: str, base: Path) -> Registry:
    """The registry for a config document (already ``${VAR}``-substituted).

    Raises:
        PluginError: a plugin cannot be imported, defines no :class:`Plugin`, clashes with another,
            or its ``plugin_config`` does not validate.
    """
    registry = Registry.with_builtins()
    names = _strings(data.get("plugins"), "plugins", source)
    dirs = _strings(data.get("plugin_dirs"), "plugin_dirs", source)
    for folder in dirs:
        path = resolve_existing(folder, base)
        if not path.is_dir():
            raise PluginError(f"{source}: plugin_dirs: {folder!r}: no such folder ({path})")
        for module_path in sorted(path.iterdir()):
            if module_path.name.startswith(("_", ".")):
                continue
            if module_path.suffix == ".py" or (module_path / "__init__.py").is_file():
                _add(registry, _from_file(module_path, source), str(module_path), source)
    for name in names:
        plugin, where = _from_name(name, source)
        _add(registry, plugin, where, source)
    _configure(registry, data.get("plugin_config"), source)
    return registry


def _strings(value: Any, key: str, source: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PluginError(f"{source}: {key}: expected a list of names")
    return list(value)


def _add(registry: Registry, plugins: list[Plugin], where: str, source: str) -> None:
    if not plugins:
        raise PluginError(f"{source}: plugin at {where}: defines no Plugin (expected `plugin = Plugin(\"name\")`)")
    for plugin in plugins:
        try:
            registry.add(plugin, where)
        except PluginError as exc:
            raise PluginError(f"{source}: {exc}") from None


def _reason(exc: BaseException) -> str:
    """``ZeroDivisionError: division by zero (dice.py, line 4)``: the error and the plugin's line that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    where = f" ({last.filename}, line {last.lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _plugins_in(module: ModuleType) -> list[Plugin]:
    found: list[Plugin] = []
    for value in vars(module).values():
        if isinstance(value, Plugin) and all(value is not p for p in found):
            found.append(value)
    return found


def _from_file(path: Path, source: str) -> list[Plugin]:
    """Import ``path`` (a ``.py`` file or a package folder) as ``voicebots_plugin_dirs.<name>``."""
    stem = path.stem if path.suffix == ".py" else path.name
    name = f"{_DIR_PACKAGE}.{stem}"
    file = path if path.suffix == ".py" else path / "__init__.py"
    if _DIR_PACKAGE not in sys.modules:
        package = ModuleType(_DIR_PACKAGE)
        package.__path__ = []
        sys.modules[_DIR_PACKAGE] = package
    spec = importlib.util.spec_from_file_location(
        name, file, submodule_search_locations=[str(path)] if file.name == "__init__.py" else None
    )
    if spec is None or spec.loader is None:
        raise PluginError(f"{source}: plugin {stem!r} ({file}): cannot be imported")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        raise PluginError(f"{source}: plugin {stem!r} ({file}): import failed: {_reason(exc)}") from exc
    return _plugins_in(module)


def _entry_point(name: str) -> EntryPoint | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep
    return None


def _from_name(name: str, source: str) -> tuple[list[Plugin], str]:
    """An entry point of that name, else the module of that name."""
    ep = _entry_point(name)
    if ep is not None:
        where = f"entry point {name} = {ep.value}" + (f" of {ep.dist.name}" if ep.dist else "")
        try:
            loaded = ep.load()
        except Exception as exc:
            raise PluginError(f"{source}: plugin {name!r} ({where}): import failed: {_reason(exc)}") from exc
        if isinstance(loaded, Plugin):
            return [loaded], where
        if isinstance(loaded, ModuleType):
            return _plugins_in(loaded), where
        raise PluginError(f"{source}: plugin {name!r} ({where}): is a {type(loaded).__name__}, not a Plugin or a module")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise PluginError(
                f"{source}: plugin {name!r}: no module of that name and no installed entry point "
                f"in {ENTRY_POINT_GROUP!r} (is it on the path, or should it be under plugin_dirs?)"
            ) from None
        raise PluginError(f"{source}: plugin {name!r} (module): import failed: {_reason(exc)}") from exc
    except Exception as exc:
        raise PluginError(f"{source}: plugin {name!r} (module): import failed: {_reason(exc)}") from exc
    return _plugins_in(module), f"module {name} ({getattr(module, '__file__', '?')})"


def _configure(registry: Registry, settings: Any, source: str) -> None:
    """Validate each plugin's ``plugin_config`` section with its model; unknown names are errors."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise PluginError(f"{source}: plugin_config: expected a mapping of plugin name to settings")
    from core.kinds import unknown_message

    for name in settings:
        if name not in registry.names():
            raise PluginError(f"{source}: plugin_config: {unknown_message('plugin', str(name), registry.names()[1:])}")
    for loaded in registry.loaded:
        plugin = loaded.plugin
        section = settings.get(plugin.name)
        if plugin.config is None:
            if section:
                raise PluginError(f"{source}: plugin_config.{plugin.name}: plugin {plugin.name} takes no settings")
            continue
        try:
            plugin.settings = plugin.config.model_validate(section or {})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(section)'}: {e['msg']}" for e in exc.errors())
            raise PluginError(
                f"{source}: plugin_config.{plugin.name} (plugin {plugin.name}, {loaded.source}): {problems}"
            ) from None
