"""Secrets never reach the logs."""

from __future__ import annotations

import io
import logging

from bots.config import parse_config
from bots.logs import RedactingFormatter, collect_secrets


def test_tokens_are_redacted_from_log_lines() -> None:
    raw = {
        "bots": [
            {
                "name": "b",
                "engines": [{"kind": "echo"}],
                "adapters": {"telegram": {"token": "${TG}"}, "discord": {"token": "${DC}"}},
            }
        ]
    }
    config = parse_config(raw, env={"TG": "123456:AAAsecret", "DC": "mfa.discordsecret"})
    secrets = collect_secrets(config)
    assert set(secrets) == {"123456:AAAsecret", "mfa.discordsecret"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s", secrets))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("POST https://api.telegram.org/bot123456:AAAsecret/getMe failed")
        try:
            raise RuntimeError("token mfa.discordsecret rejected")
        except RuntimeError:
            logger.exception("login")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "AAAsecret" not in out and "discordsecret" not in out
    assert "bot***/getMe" in out


def test_json_log_format_is_redacted_too() -> None:
    fmt = RedactingFormatter("%(message)s", ["hunter22"], as_json=True)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pw=%s", ("hunter22",), None)
    assert "hunter22" not in fmt.format(record)
    assert '"msg": "pw=***"' in fmt.format(record)
