"""Seeded generators of hostile input, shared by the CI fuzz tests and ``bench/fuzz_soak.py``.

Every generator takes a :class:`random.Random`, so a failing case is reproduced from its seed.
Valid cases carry what the bot must answer; junk cases must be refused or ignored, never crash.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from typing import Any

SURROGATES = ["\ud800", "\udfff", "\udc80", "\ud83d"]
UNICODE = ["é", "ß", "中文", "日本語", "😀", "🎉", "Ω", "ñ", "\u200b", "\ufeff", "\u202e"]
ODD_VALUES: list[Any] = ["", "x", 1.5, None, [1, 2], {"id": 1}, True, -1, 0, 2**70, "12", float("inf"), "\ud800"]


def word(rng: random.Random) -> str:
    """A word of letters and digits, sometimes non-ASCII."""
    if rng.random() < 0.2:
        return rng.choice(UNICODE) + rng.choice(string.ascii_letters)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(1, 10)))


def plain_text(rng: random.Random, lone_surrogates: bool = True) -> tuple[str, str]:
    """(text sent, text the echo engine answers with): words, maybe a lone surrogate (answered as U+FFFD)."""
    words = [word(rng) for _ in range(rng.randint(1, 8))]
    sent = " ".join(words)
    if lone_surrogates and rng.random() < 0.2:
        at = rng.randint(0, len(words))
        surrogate = rng.choice(SURROGATES)
        words.insert(at, surrogate)
        return " ".join(words), " ".join(w if w != surrogate else "\ufffd" for w in words)
    return sent, sent


def junk_json(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value (bounded depth), including odd numbers and lone surrogates."""
    kind = rng.randint(0, 7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice(ODD_VALUES[:-2] + [rng.randint(-(2**63), 2**63)])
    if kind == 1:
        return word(rng) + (rng.choice(SURROGATES) if rng.random() < 0.2 else "")
    if kind == 2:
        return rng.random() * 10 ** rng.randint(-5, 20)
    if kind == 3:
        return None
    if kind == 4:
        return rng.choice([True, False])
    if kind in (5, 6):
        return {word(rng): junk_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [junk_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]


# --- Telegram updates -------------------------------------------------------------------------


@dataclass
class UpdateCase:
    """An update for the fake Bot API: a dict, or raw JSON bytes (lone surrogates survive only as escapes)."""

    body: dict[str, Any] | bytes
    chat_id: int | None = None  # a valid message's chat
    answer: str | None = None  # what the echo engine must answer (None: nothing)
    kind: str = "valid"


def _message(rng: random.Random, chat_id: Any, text: Any, message_id: Any, user: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": 1_700_000_000 + rng.randint(0, 10**6),
        "chat": {"id": chat_id, "type": "private", "first_name": word(rng)},
        "from": user or {"id": chat_id if isinstance(chat_id, int) else 5, "is_bot": False, "first_name": word(rng)},
        "text": text,
    }


def _escaped(body: dict[str, Any]) -> bytes:
    """JSON with lone surrogates written as ``\\uXXXX`` escapes, as Telegram's JSON could carry them."""
    return json.dumps(body, ensure_ascii=True).encode()


def telegram_update(rng: random.Random, chats: list[int], junk_chats: list[int], message_ids: Any) -> UpdateCase:
    """A valid private message (about half the time) or one of many kinds of junk update."""
    if rng.random() < 0.5:
        chat = rng.choice(chats)
        sent, answer = plain_text(rng)
        return UpdateCase(_escaped({"message": _message(rng, chat, sent, next(message_ids))}), chat, answer)
    chat = rng.choice(junk_chats)
    kind = rng.choice(
        ["bad_chat_id", "bad_message_id", "bad_text", "from_bot", "edited", "unknown_type", "not_object",
         "missing_chat", "entities", "huge_text", "nested", "channel", "service", "bad_from_id"]
    )
    msg = _message(rng, chat, plain_text(rng)[0], next(message_ids))
    body: dict[str, Any]
    if kind == "bad_chat_id":
        msg["chat"]["id"] = rng.choice(ODD_VALUES[:-1])
        body = {"message": msg}
    elif kind == "bad_message_id":
        msg["message_id"] = rng.choice(["", "x", 1.5, None, [1], {"a": 1}, "12"])
        body = {"message": msg}
    elif kind == "bad_text":
        msg["text"] = rng.choice([123, [1, "a"], {"t": "x"}, True, 1.5])
        body = {"message": msg}
    elif kind == "from_bot":
        msg["from"] = {"id": 9000 + rng.randint(0, 99), "is_bot": True, "first_name": "Bot"}
        body = {"message": msg}
    elif kind == "edited":
        body = {"edited_message": msg}
    elif kind == "unknown_type":
        body = {word(rng): junk_json(rng)}
    elif kind == "not_object":
        body = {"message": junk_json(rng) if rng.random() < 0.5 else [msg]}
        if isinstance(body["message"], dict):
            body["message"] = [body["message"]]
    elif kind == "missing_chat":
        msg.pop(rng.choice(["chat", "date", "message_id"]))
        body = {"message": msg}
    elif kind == "entities":
        msg["entities"] = [
            {"type": rng.choice(["bot_command", "mention", "bold", "x"]), "offset": rng.randint(-5, 500), "length": rng.randint(-5, 500)}
            for _ in range(rng.randint(1, 4))
        ]
        body = {"message": msg}
        return UpdateCase(_escaped(body), kind=kind)  # may be answered: only doubles would be wrong
    elif kind == "huge_text":
        msg["text"] = "y" * rng.randint(4097, 20_000)
        body = {"message": msg}
        return UpdateCase(_escaped(body), kind=kind)
    elif kind == "nested":
        deep: Any = 1
        for _ in range(rng.randint(50, 400)):
            deep = [deep]
        msg["reply_markup"] = deep
        msg["chat"]["id"] = "x"
        body = {"message": msg}
    elif kind == "channel":
        msg["chat"]["type"] = "channel"
        body = {"channel_post": msg}
    elif kind == "service":
        msg.pop("text")
        msg["new_chat_members"] = [{"id": 1, "is_bot": False, "first_name": "a"}]
        body = {"message": msg}
    else:  # bad_from_id
        msg["from"]["id"] = rng.choice(["", "x", None, 1.5])
        body = {"message": msg}
    return UpdateCase(_escaped(body), kind=kind)


# --- web frames -------------------------------------------------------------------------------


@dataclass
class FrameCase:
    """One frame a tab sends: text or bytes; ``msg_id``/``answer`` set for a valid message."""

    data: str | bytes
    msg_id: str | None = None
    answer: str | None = None
    kind: str = "valid"
    closes: bool = False  # a frame this large closes the socket (1009) by design


def web_frame(rng: random.Random, serial: Any, max_bytes: int = 65536) -> FrameCase:
    """A valid message (40 %), a ping, or hostile junk."""
    roll = rng.random()
    if roll < 0.4:
        msg_id = f"m{next(serial)}"
        sent, answer = plain_text(rng)
        return FrameCase(json.dumps({"type": "message", "id": msg_id, "text": sent}), msg_id, answer)
    if roll < 0.45:
        return FrameCase('{"type":"ping"}', kind="ping")
    kind = rng.choice(["binary", "deep", "random_json", "not_json", "bad_id", "wrong_types", "unknown", "extra", "large", "surrogate_key"])
    if kind == "binary":
        return FrameCase(rng.randbytes(rng.randint(0, 300)), kind=kind)
    if kind == "deep":  # within the size limit, so only the nesting bound can stop it
        opener = rng.choice(["[", '{"a":'])
        return FrameCase(opener * rng.randint(33, max(34, max_bytes // len(opener))), kind=kind)
    if kind == "random_json":
        return FrameCase(json.dumps(junk_json(rng)), kind=kind)
    if kind == "not_json":
        return FrameCase("".join(rng.choice(string.printable + "".join(UNICODE)) for _ in range(rng.randint(1, 200))), kind=kind)
    if kind == "bad_id":
        return FrameCase(json.dumps({"type": "message", "id": rng.choice(["", "a b", "x" * 65, 5, None, "ü"]), "text": "x"}), kind=kind)
    if kind == "wrong_types":
        text = junk_json(rng)
        text = [text] if isinstance(text, str) else text  # a string would make it a valid message
        return FrameCase(json.dumps({"type": "message", "id": "w1", "text": text} if rng.random() < 0.8 else {"type": 5}), kind=kind)
    if kind == "unknown":
        return FrameCase(json.dumps({"type": word(rng)}), kind=kind)
    if kind == "extra":
        return FrameCase(json.dumps({"type": "ping", word(rng): junk_json(rng)}), kind=kind)
    if kind == "large":
        size = rng.choice([max_bytes + 1, max_bytes * 2])
        return FrameCase(json.dumps({"type": "message", "id": "big", "text": "z" * size}), kind=kind)
    return FrameCase('{"type":"message","id":"s1","text":"a","\\ud800":1}', kind=kind)


# --- config values ----------------------------------------------------------------------------


def base_config() -> dict[str, Any]:
    """A valid config exercising most sections (no file is read while validating it)."""
    return {
        "logging": {"level": "INFO", "json": False},
        "storage": {"kind": "sqlite", "path": "data/x.sqlite3"},
        "bus": {"kind": "inprocess"},
        "voice": {"enabled": False},
        "bots": [
            {
                "name": "fuzz",
                "persona": {"name": "Fuzz", "description": "d"},
                "engines": [
                    {"kind": "echo", "prefix": "e: ", "delay_s": 0},
                    {"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:1/v1", "max_retries": 1},
                ],
                "pipeline": {"history_turns": 10, "flood": {"per_user": 3, "per_chat": 5, "window_s": 10}},
                "adapters": {
                    "web": {"host": "127.0.0.1", "port": 8080},
                    "telegram": {"token": "1:abc", "rate_limits": {"per_chat": 1}, "retry": {"max_tries": 3}},
                },
            }
        ],
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


@dataclass
class ConfigCase:
    """A config with one value replaced (or one key added)."""

    raw: dict[str, Any]
    path: tuple[Any, ...] = field(default_factory=tuple)
    value: Any = None


def config_case(rng: random.Random) -> ConfigCase:
    """The base config with one random value replaced by an odd one, or an unknown key added."""
    raw = base_config()
    path = rng.choice(_paths(raw))
    value = rng.choice([*ODD_VALUES, -(10**9), 10**12, "${UNSET_VAR}", "${X:-5}", "\x00", " ", "nan", [], {}, junk_json(rng)])
    parent: Any = raw
    for key in path[:-1]:
        parent = parent[key]
    if rng.random() < 0.1 and isinstance(parent, dict):
        parent[word(rng)] = value
    else:
        parent[path[-1]] = value
    return ConfigCase(raw, path, value)


# --- audio bytes ------------------------------------------------------------------------------


def audio_bytes(rng: random.Random, sample: bytes) -> bytes:
    """``sample`` (a real OGG/Opus note) truncated, bit-flipped or spliced, or random bytes."""
    kind = rng.randint(0, 4)
    if kind == 0:
        return sample[: rng.randint(0, len(sample))]
    if kind == 1:
        data = bytearray(sample)
        for _ in range(rng.randint(1, 50)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 2:
        cut = rng.randrange(len(sample))
        return sample[:cut] + rng.randbytes(rng.randint(0, 2000)) + sample[cut:]
    if kind == 3:
        return b"OggS" + rng.randbytes(rng.randint(0, 4000))
    return rng.randbytes(rng.randint(0, 4000))
