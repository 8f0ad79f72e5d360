"""Secrets never reach the logs."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from bots.config import parse_config
from bots.logs import RedactingFormatter, collect_secrets, setup_logging
from core.logcontext import MessageIdFilter, message_context


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


def test_json_line_carries_the_message_id_only_when_there_is_one() -> None:
    fmt = RedactingFormatter("%(message)s", ["hunter22"], as_json=True)
    stamp = MessageIdFilter()
    with message_context("telegram:123:456"):
        inside = logging.LogRecord("x", logging.INFO, __file__, 1, "answering with hunter22", None, None)
        stamp.filter(inside)
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "idle", None, None)
    stamp.filter(outside)
    line = json.loads(fmt.format(inside))
    assert line["msg_id"] == "telegram:123:456"
    assert line["msg"] == "answering with ***"
    assert "msg_id" not in json.loads(fmt.format(outside))


def test_text_line_ends_with_the_message_id_before_any_traceback() -> None:
    fmt = RedactingFormatter("%(levelname)s %(message)s", ["hunter22"])
    try:
        raise RuntimeError("hunter22 leaked")
    except RuntimeError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "send failed", None, sys.exc_info())
    failed.msg_id = "web:tab:7"
    first, *rest = fmt.format(failed).splitlines()
    assert first == "ERROR send failed [web:tab:7]"
    assert rest and "hunter22" not in "\n".join(rest) and "RuntimeError: *** leaked" in rest[-1]
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "idle", None, None)
    assert fmt.format(plain) == "INFO idle"


def test_setup_logging_stamps_lines_with_the_message_being_handled(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    try:
        setup_logging("INFO", secrets=["hunter22"], as_json=True)
        log = logging.getLogger("test.msgid")
        with message_context("discord:9:10"):
            log.info("engine answered hunter22")
        log.info("between messages")
        for handler in root.handlers:
            handler.flush()
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"test.msgid"' in line]
    assert [(line["msg"], line.get("msg_id")) for line in lines] == [
        ("engine answered ***", "discord:9:10"),
        ("between messages", None),
    ]
