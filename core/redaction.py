"""The process-wide list of secrets that must never appear in a log line.

Whatever obtains a secret (a ``SecretStr`` in config, an API key read from the
variable named by ``api_key_env``, a token fetched at run time) registers it here;
the log formatter (:mod:`bots.logs`) replaces every registered value with ``***``
in every line, message and traceback alike. Values shorter than four characters
are ignored (they would mask ordinary text).
"""

from __future__ import annotations

import threading

MIN_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_version = 0


def register_secret(value: str | None) -> None:
    """Redact ``value`` from every log line from now on (None, "" and very short values are ignored)."""
    global _version
    if not value or len(value) < MIN_LENGTH:
        return
    with _lock:
        if value not in _secrets:
            _secrets.add(value)
            _version += 1


def registered() -> tuple[int, frozenset[str]]:
    """(a counter that changes when a secret is added, the registered secrets)."""
    with _lock:
        return _version, frozenset(_secrets)


def forget_all() -> None:
    """Drop every registered secret (tests)."""
    global _version
    with _lock:
        _secrets.clear()
        _version += 1
