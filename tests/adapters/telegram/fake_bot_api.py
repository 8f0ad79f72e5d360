"""A protocol-faithful fake Telegram Bot API server (aiohttp on 127.0.0.1, free port).

It answers ``/bot<token>/<method>`` with JSON, form or multipart bodies the way
Telegram does (``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ...,
"description": ..., "parameters": {"retry_after": ...}}``), serves files under
``/file/bot<token>/<path>``, records every call, lets tests inject updates (long
polling with offset/timeout semantics, or pushed to a webhook with the secret
header) and injects faults: 429 with ``retry_after``, 500, slow answers, dropped
connections (``drop``: before the request is processed; ``lose``: after it was
processed, so only the answer is lost) and arbitrary errors, for the next N calls
or a share of calls.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Self

import aiohttp
from aiohttp import web

BOT_ID = 7000001
BOT_USERNAME = "testbot"
TOKEN = "123456:TEST-token"

_INT_FIELDS = {"chat_id", "message_id", "draft_id", "duration", "offset", "timeout", "limit"}
_JSON_FIELDS = {"reply_parameters", "allowed_updates", "commands", "entities", "reply_markup"}
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a", "span", "tg-spoiler", "blockquote", "tg-emoji"}


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    """One request the server received; ``status`` 0 means the connection was dropped."""

    method: str
    params: dict[str, Any]
    files: dict[str, Upload]
    at: float
    status: int = 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None


@dataclass
class Fault:
    """What to do instead of answering: ``429``, ``500``, ``slow``, ``drop``, ``lose`` or ``error``."""

    kind: str
    count: int = 1
    methods: frozenset[str] | None = None
    share: float | None = None
    retry_after: float = 0.3
    delay_s: float = 0.5
    code: int = 400
    description: str = "Bad Request"
    chat_id: int | None = None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.methods is None and method == "getUpdates":
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id


class _TelegramHtml(HTMLParser):
    """Checks Telegram's HTML subset and collects the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS and not self.error:
            self.error = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if (not self.stack or self.stack.pop() != tag) and not self.error:
            self.error = f'Unexpected end tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def chat_json(chat_id: int) -> dict[str, Any]:
    """A chat object as Telegram sends it (the kind follows the id, as on Telegram)."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}


BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Test Bot", "username": BOT_USERNAME}

_user_message_ids = itertools.count(1)

MAX_TEXT_UNITS = 4096


def utf16_units(text: str) -> int:
    """A text's length as Telegram counts it: UTF-16 code units (an emoji such as U+1F600 counts 2).

    Written independently of the adapter's own counting, so a test can catch it.
    """
    return sum(2 if ord(char) >= 0x10000 else 1 for char in text)


def entities_for(text: str) -> list[dict[str, Any]]:
    """``bot_command`` and ``mention`` entities as Telegram computes them (ASCII offsets)."""
    found: list[dict[str, Any]] = []
    if text.startswith("/"):
        word = text.split()[0]
        found.append({"type": "bot_command", "offset": 0, "length": len(word)})
    start = 0
    while (at := text.find("@", start)) >= 0:
        end = at + 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        if end - at > 1 and not (found and at < found[0]["length"]):
            found.append({"type": "mention", "offset": at, "length": end - at})
        start = end
    return found


def message_json(
    chat_id: int,
    text: str | None = None,
    *,
    user_id: int | None = None,
    message_id: int | None = None,
    reply_to: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A user's message object (entities computed from the text)."""
    user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 42)
    msg: dict[str, Any] = {
        "message_id": message_id if message_id is not None else next(_user_message_ids),
        "date": int(time.time()),
        "chat": chat_json(chat_id),
        "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
    }
    if text is not None:
        msg["text"] = text
        if entities := entities_for(text):
            msg["entities"] = entities
    if reply_to is not None:
        msg["reply_to_message"] = reply_to
    msg.update(extra)
    return msg


class FakeBotApi:
    """The fake server. ``async with FakeBotApi() as api:`` then use :attr:`base_url`."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.migrated: dict[int, int] = {}  # group id -> the supergroup it became
        self.files: dict[str, tuple[str, bytes]] = {}
        self.voice_forbidden: set[int] = set()
        self.messages: dict[tuple[int, int], str] = {}
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_deliveries: list[int] = []
        self._updates: list[tuple[int, bytes]] = []
        self._update_ids = itertools.count(1)
        self._confirmed = 0
        self._new_update = asyncio.Event()
        self._message_ids = itertools.count(100000)
        self._rng = random.Random(7)
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task[None] | None = None
        self.port = 0

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # --- test controls -----------------------------------------------------------

    def inject(self, update: dict[str, Any] | bytes) -> int:
        """Queue an update (a dict, or raw JSON bytes of the update without ``update_id``)."""
        update_id = next(self._update_ids)
        if isinstance(update, bytes):
            body = b'{"update_id": %d, ' % update_id + update.lstrip()[1:]
        else:
            body = json.dumps({"update_id": update_id, **update}).encode()
        self._updates.append((update_id, body))
        self._new_update.set()
        return update_id

    def inject_message(self, chat_id: int, text: str | None = None, **kw: Any) -> dict[str, Any]:
        """Queue a new message from a user and return the message object."""
        msg = message_json(chat_id, text, **kw)
        self.inject({"channel_post" if msg["chat"]["type"] == "channel" else "message": msg})
        return msg

    def migrate(self, group_id: int, supergroup_id: int) -> None:
        """The group becomes a supergroup: writes to the old id are refused with ``migrate_to_chat_id``."""
        self.migrated[group_id] = supergroup_id

    def fail_next(self, kind: str, count: int = 1, methods: set[str] | None = None, **kw: Any) -> None:
        """Answer the next ``count`` matching calls with a fault instead of the result."""
        self.faults.append(Fault(kind, count, frozenset(methods) if methods else None, **kw))

    def fail_share(self, kind: str, share: float, methods: set[str] | None = None, count: int = 10**9, **kw: Any) -> None:
        """Answer a random ``share`` of matching calls (seeded) with a fault, up to ``count`` times."""
        self.faults.append(Fault(kind, count, frozenset(methods) if methods else None, share=share, **kw))

    def add_file(self, file_id: str, data: bytes, path: str = "voice/file_0.oga") -> None:
        self.files[file_id] = (path, data)

    def answered(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        """Calls that were processed (status 200), optionally of one method and chat."""
        return [
            c for c in self.calls
            if c.status == 200 and (method is None or c.method == method) and (chat_id is None or c.chat_id == chat_id)
        ]

    def texts(self, chat_id: int) -> list[str]:
        """Texts of the messages sent to ``chat_id`` as they stand now (after edits), in order."""
        return [text for (cid, _), text in sorted(self.messages.items()) if cid == chat_id]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` is true (polls every 10 ms)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met in {timeout}s; calls: {[c.method for c in self.calls][-30:]}")
            await asyncio.sleep(0.01)

    # --- HTTP --------------------------------------------------------------------

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str, **parameters: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, Upload] = {}
        ctype = request.content_type
        if ctype == "application/json":
            params.update(await request.json())
        elif ctype == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if part.filename is not None:
                    files[part.name] = Upload(part.filename, part.headers.get("Content-Type", ""), bytes(await part.read()))
                else:
                    params[part.name] = await part.text()
        elif request.can_read_body:
            params.update(await request.post())
        for key, value in list(params.items()):
            if isinstance(value, str) and key in _INT_FIELDS:
                params[key] = int(value)
            elif isinstance(value, str) and key in _JSON_FIELDS:
                params[key] = json.loads(value)
            elif isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                params[key] = files[value[9:]]
        for name, upload in list(files.items()):
            params.setdefault(name, upload)
        return params, files

    def _fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        for fault in self.faults:
            if fault.count <= 0 or not fault.matches(method, params):
                continue
            if fault.share is not None and self._rng.random() >= fault.share:
                continue
            fault.count -= 1
            return fault
        return None

    async def _api(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        method = request.match_info["method"]
        params, files = await self._params(request)
        call = Call(method, params, files, arrived)
        self.calls.append(call)
        if request.match_info["token"] != self.token:
            call.status = 401
            return self._error(401, "Unauthorized")
        moved_to = self.migrated.get(params.get("chat_id")) if isinstance(params.get("chat_id"), int) else None
        if moved_to is not None:
            call.status = 400
            return self._error(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=moved_to)
        fault = self._fault(method, params)
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_s)
            elif fault.kind in ("drop", "lose"):
                if fault.kind == "lose" and (processor := getattr(self, f"_m_{method}", None)) is not None:
                    await processor(params)  # done on "Telegram's" side; only the answer goes missing
                call.status = 0
                assert request.transport is not None
                request.transport.abort()
                raise asyncio.CancelledError  # aiohttp stops handling the dropped request
            elif fault.kind == "429":
                call.status = 429
                return self._error(429, f"Too Many Requests: retry after {fault.retry_after:g}", retry_after=fault.retry_after)
            elif fault.kind == "500":
                call.status = 500
                return self._error(500, "Internal Server Error")
            else:
                call.status = fault.code
                return self._error(fault.code, fault.description)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            call.status = 404
            return self._error(404, "Not Found: method not found")
        answer = await handler(params)
        if isinstance(answer, web.Response):
            call.status = answer.status
            return answer
        return self._ok(answer)

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        for stored_path, data in self.files.values():
            if stored_path == path and request.match_info["token"] == self.token:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    # --- methods -------------------------------------------------------------------

    async def _m_getMe(self, p: dict[str, Any]) -> Any:
        return {**BOT_USER, "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _m_getUpdates(self, p: dict[str, Any]) -> Any:
        if self.webhook_url:
            return self._error(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
        offset = int(p.get("offset", 0) or 0)
        if offset:
            self._confirmed = max(self._confirmed, offset - 1)
            self._updates = [(i, b) for i, b in self._updates if i >= offset]
        deadline = time.monotonic() + float(p.get("timeout", 0) or 0)
        while not self._updates and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        batch = self._updates[: int(p.get("limit", 100) or 100)]
        body = b'{"ok": true, "result": [' + b", ".join(b for _, b in batch) + b"]}"
        return web.Response(body=body, content_type="application/json")

    async def _m_setWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook_url = str(p.get("url", ""))
        self.webhook_secret = str(p.get("secret_token", ""))
        if str(p.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        if self.webhook_url and self._pusher is None:
            self._pusher = asyncio.create_task(self._push_webhook())
        return True

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook_url = ""
        if str(p.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return True

    async def _m_setMyCommands(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_sendChatAction(self, p: dict[str, Any]) -> Any:
        return True

    def _text(self, p: dict[str, Any]) -> str | web.Response:
        text = str(p.get("text", ""))
        if p.get("parse_mode") == "HTML":
            parser = _TelegramHtml()
            parser.feed(text)
            parser.close()
            if parser.error or parser.stack:
                error = parser.error or f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
                return self._error(400, f"Bad Request: can't parse entities: {error}")
            text = "".join(parser.text)
        if not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if utf16_units(text) > MAX_TEXT_UNITS:
            return self._error(400, "Bad Request: message is too long")
        return text

    def _message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        message_id = next(self._message_ids)
        if "text" in content:
            self.messages[(chat_id, message_id)] = content["text"]
        return {"message_id": message_id, "date": int(time.time()), "chat": chat_json(chat_id), "from": BOT_USER, **content}

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        text = self._text(p)
        if isinstance(text, web.Response):
            return text
        return self._message(int(p["chat_id"]), text=text)

    async def _m_sendMessageDraft(self, p: dict[str, Any]) -> Any:
        if int(p["chat_id"]) <= 0:
            return self._error(400, "Bad Request: draft can be sent only to private chats")
        if not int(p.get("draft_id", 0)):
            return self._error(400, "Bad Request: draft_id must be non-zero")
        text = self._text(p)
        return text if isinstance(text, web.Response) else True

    async def _m_editMessageText(self, p: dict[str, Any]) -> Any:
        text = self._text(p)
        if isinstance(text, web.Response):
            return text
        key = (int(p["chat_id"]), int(p["message_id"]))
        if key not in self.messages:
            return self._error(400, "Bad Request: message to edit not found")
        if self.messages[key] == text:
            return self._error(400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        self.messages[key] = text
        return {"message_id": key[1], "date": int(time.time()), "edit_date": int(time.time()), "chat": chat_json(key[0]), "from": BOT_USER, "text": text}

    async def _m_sendVoice(self, p: dict[str, Any]) -> Any:
        chat_id = int(p["chat_id"])
        if chat_id in self.voice_forbidden:
            return self._error(400, "Bad Request: VOICE_MESSAGES_FORBIDDEN")
        upload = p.get("voice")
        if not isinstance(upload, Upload):
            return self._error(400, "Bad Request: there is no voice in the request")
        return self._message(chat_id, voice={"file_id": f"v{len(self.calls)}", "file_unique_id": "u", "duration": int(p.get("duration", 0)), "mime_type": "audio/ogg", "file_size": len(upload.data)})

    async def _m_sendAudio(self, p: dict[str, Any]) -> Any:
        upload = p.get("audio")
        if not isinstance(upload, Upload):
            return self._error(400, "Bad Request: there is no audio in the request")
        return self._message(int(p["chat_id"]), audio={"file_id": f"a{len(self.calls)}", "file_unique_id": "u", "duration": int(p.get("duration", 0)), "file_size": len(upload.data)})

    async def _m_sendDocument(self, p: dict[str, Any]) -> Any:
        upload = p.get("document")
        if not isinstance(upload, Upload):
            return self._error(400, "Bad Request: there is no document in the request")
        return self._message(int(p["chat_id"]), document={"file_id": f"d{len(self.calls)}", "file_unique_id": "u", "file_name": upload.filename})

    async def _m_getFile(self, p: dict[str, Any]) -> Any:
        file_id = str(p.get("file_id", ""))
        if file_id not in self.files:
            return self._error(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data), "file_path": path}

    # --- webhook push -------------------------------------------------------------------

    async def _push_webhook(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                if not self.webhook_url or not self._updates:
                    self._new_update.clear()
                    try:
                        await asyncio.wait_for(self._new_update.wait(), 0.2)
                    except TimeoutError:
                        pass
                    continue
                update_id, body = self._updates[0]
                headers = {"Content-Type": "application/json"}
                if self.webhook_secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
                try:
                    async with session.post(self.webhook_url, data=body, headers=headers) as resp:
                        ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    self._updates.pop(0)
                    self.webhook_deliveries.append(update_id)
                else:
                    await asyncio.sleep(0.1)
