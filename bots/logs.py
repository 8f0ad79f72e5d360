"""Logging set-up: one format, secrets redacted from every line, noisy libraries quieted.

Every line written while a message is handled (worker) or its reply delivered (gateway)
carries the message's key (``platform:chat:message``, see :mod:`core.logcontext`): a
``msg_id`` field in JSON, a trailing ``[msg_id]`` in text.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable

from pydantic import BaseModel, SecretStr

from core.logcontext import MessageIdFilter


class RedactingFormatter(logging.Formatter):
    """Formats records, then replaces every known secret with ``***``.

    A record's ``msg_id`` (set by :class:`core.logcontext.MessageIdFilter`) is shown when non-empty.
    """

    def __init__(self, fmt: str, secrets: Iterable[str] = (), as_json: bool = False) -> None:
        super().__init__(fmt)
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self.as_json = as_json

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
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        # The id ends the line itself, before any traceback that format() appends.
        text = super().formatMessage(record)
        msg_id = getattr(record, "msg_id", "")
        return f"{text} [{msg_id}]" if msg_id else text


def collect_secrets(model: BaseModel) -> list[str]:
    """Every non-empty ``SecretStr`` value inside a pydantic model, recursively."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            if secret := value.get_secret_value():
                found.append(secret)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
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
