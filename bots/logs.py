"""Logging set-up: one format, secrets redacted from every line, noisy libraries quieted.

Redacted are the secrets given to :func:`setup_logging` and every secret registered with
:func:`core.redaction.register_secret` at any time (an API key read from ``api_key_env``...).

Every line written while a message is handled (worker) or its reply delivered (gateway)
carries the message's key (``platform:chat:message``, see :mod:`core.logcontext`): a
``msg_id`` field in JSON, a trailing ``[msg_id]`` in text.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

from core import redaction
from core.logcontext import MessageIdFilter


class RedactingFormatter(logging.Formatter):
    """Formats records, then replaces every known secret (its own and the registered ones) with ``***``.

    A record's ``msg_id`` (set by :class:`core.logcontext.MessageIdFilter`) is shown when non-empty.
    """

    def __init__(self, fmt: str, secrets: Iterable[str] = (), as_json: bool = False) -> None:
        super().__init__(fmt)
        self.own = frozenset(s for s in secrets if len(s) >= redaction.MIN_LENGTH)
        self.secrets = sorted(self.own, key=len, reverse=True)
        self._version = -1
        self.as_json = as_json

    def _current(self) -> list[str]:
        version, registered = redaction.registered()
        if version != self._version:
            self.secrets = sorted(self.own | registered, key=len, reverse=True)
            self._version = version
        return self.secrets

    def format(self, record: logging.LogRecord) -> str:
        if self.as_json:
            payload = {
                "ts": round(record.created, 3),
                "level": record.levelname,
                "logger": record.name,
                "msg": record.getMessage(),
            }
            if msg_id := getattr(record, "msg_id", ""):
                payload["msg_id"] = msg_id
            if record.exc_info:
                payload["exc"] = self.formatException(record.exc_info)
            text = json.dumps(payload, ensure_ascii=False)
        else:
            text = super().format(record)
        for secret in self._current():
            text = text.replace(secret, "***")
        return text

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The id ends the line itself, before any traceback that format() appends.
        text = super().formatMessage(record)
        msg_id = getattr(record, "msg_id", "")
        return f"{text} [{msg_id}]" if msg_id else text


def collect_secrets(model: BaseModel, env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret a pydantic model holds or points at, recursively.

    That is every non-empty ``SecretStr`` value, the value of every environment variable
    named by a string field whose name ends in ``_env`` (``api_key_env: OPENAI_API_KEY``), and
    the password of every URL (``redis://:PASSWORD@host:6379/0``).
    """
    environ = os.environ if env is None else env
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            if secret := value.get_secret_value():
                found.append(secret)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                field = getattr(value, name)
                if name.endswith("_env") and isinstance(field, str) and environ.get(field):
                    found.append(environ[field])
                walk(field)
            for extra in (value.__pydantic_extra__ or {}).values():  # plugins' adapter sections
                walk(extra)
        elif isinstance(value, str) and "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.append(unquote(password))
                found.append(password)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(model)
    return found


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), as_json: bool = False) -> None:
    """Configure the root logger to stderr with secret redaction and message ids.

    Args:
        level: the root level (``INFO``, ``DEBUG``...).
        secrets: strings replaced with ``***`` in every line.
        as_json: one JSON object per line instead of text.
    """
    secrets = list(secrets)
    for secret in secrets:
        redaction.register_secret(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MessageIdFilter())
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", secrets, as_json))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp.access", "discord.gateway", "discord.client", "websockets"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
