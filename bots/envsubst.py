"""``${VAR}`` and ``${VAR:-default}`` substitution in config values."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def substitute(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` (empty when unset) and ``${VAR:-default}`` in every string of ``value``.

    A string that is exactly one ``${VAR}`` left empty becomes ``None``-free empty text, so
    an unset token reads as "missing" rather than failing validation.
    ``$${`` escapes a literal ``${``.
    """
    source = os.environ if env is None else env
    if isinstance(value, str):
        escaped = value.replace("$${", "\x00")

        def repl(match: re.Match[str]) -> str:
            found = source.get(match.group(1))
            if found:  # ${VAR:-default} also applies when VAR is set but empty, as in the shell
                return found
            return match.group(2) if match.group(2) is not None else ""

        return _VAR.sub(repl, escaped).replace("\x00", "${")
    if isinstance(value, list):
        return [substitute(v, source) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, source) for k, v in value.items()}
    return value


def references(value: Any, path: str = "") -> dict[str, list[str]]:
    """The variables each string of ``value`` refers to, by dotted key path (``bots.0.adapters.telegram.token``)."""
    found: dict[str, list[str]] = {}
    if isinstance(value, str):
        names = [m.group(1) for m in _VAR.finditer(value.replace("$${", "\x00"))]
        if names:
            found[path] = names
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.update(references(item, f"{path}.{i}" if path else str(i)))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.update(references(item, f"{path}.{key}" if path else str(key)))
    return found


def unset_references(value: Any, env: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """The variables left unset (or empty) with no ``:-default``, by dotted key path, for error messages."""
    source = os.environ if env is None else env
    found: dict[str, list[str]] = {}
    for path in references(value):
        text = _at(value, path)
        if not isinstance(text, str):
            continue
        missing = [
            m.group(1)
            for m in _VAR.finditer(text.replace("$${", "\x00"))
            if not source.get(m.group(1)) and m.group(2) is None
        ]
        if missing:
            found[path] = missing
    return found


def _at(value: Any, path: str) -> Any:
    for part in path.split(".") if path else ():
        if isinstance(value, list):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value[next(k for k in value if str(k) == part)]
    return value
