"""The web chat adapter: an aiohttp server with one chat page, a WebSocket and a health check.

Routes::

    GET /              the chat page (static HTML, CSS and JS from ``static/``; no CDN, no build)
    GET /static/...    the page's assets
    GET /ws            the WebSocket (protocol in :mod:`adapters.web.protocol`)
    GET /voice/TOKEN   a recent voice reply (``audio/ogg``), for the page's voice bubble
    POST /audio        a recording from the page's microphone (see :mod:`adapters.web.recording`)
    GET /favicon.ico   the bot's icon, in its own colour
    GET /healthz       ``{"status": "ok", ...}``

Each message from the page becomes an :class:`core.model.IncomingMessage` in a
private chat whose id is the browser's session id.
"""

from __future__ import annotations

import asyncio
import collections
import html
import logging
import re
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from yarl import URL

from adapters.web.avatar import favicon, hue
from adapters.web.clips import ClipStore
from adapters.web.config import WebConfig
from adapters.web.errors import ProtocolError, ServerStartError
from adapters.web.protocol import MessageFrame, error_frame, event_frame, parse_client_frame, valid_session
from adapters.web.recording import read_recording
from adapters.web.sessions import Connection, SessionHub
from core.adapter import Adapter
from core.bus import Bus
from core.errors import BusError
from core.model import (
    Addressed,
    Attachment,
    AttachmentKind,
    Author,
    Chat,
    ChatKind,
    IncomingMessage,
    OutgoingEvent,
    ReplyDone,
    ReplySkipped,
    ReplyVoice,
    ReplyVoiceFailed,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
HINT = (
    "Type /voice on to hear my replies spoken, or press the microphone to talk to me; "
    "/help for everything I can do."
)
_RESET = re.compile(r"^/reset(?:@\S+)?(?:\s|$)", re.IGNORECASE)
_RESETS_TRACKED = 1000


class WebAdapter(Adapter):
    """Serves the web chat and bridges its WebSocket to the bus.

    Args:
        adapter_id: this adapter instance's id (replies are addressed to it).
        bus: the bus to publish messages on and read replies from.
        config: host, port and limits.
        title: page title when ``config.title`` is empty (normally the bot's name).
        greeting: what the empty page says (the persona's greeting).
        max_input_chars: longer messages are refused at once (``rejected``), the text kept in the page;
            None leaves the check to the pipeline.
        clips_dir: where voice replies are kept for the page (None: in memory only).
    """

    platform = "web"

    def __init__(
        self,
        adapter_id: str,
        bus: Bus,
        config: WebConfig,
        title: str = "Chat",
        *,
        greeting: str = "",
        max_input_chars: int | None = None,
        clips_dir: Path | None = None,
    ) -> None:
        super().__init__(adapter_id, bus)
        self.config = config
        self.title = config.title or title
        self.greeting = greeting or f"Hi, I'm {self.title}."
        self.max_input_chars = max_input_chars
        self.hub = SessionHub(config.pending_events, config.pending_ttl_s)
        self.clips = ClipStore(config.voice_clips, clips_dir, config.voice_clips_mb * 1024 * 1024)
        self._resets: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._favicon = favicon(self.title)
        fields = {
            "title": self.title,
            "greeting": self.greeting,
            "hint": HINT,
            "hue": str(hue(self.title)),
            "initial": (self.title.strip()[:1] or "?").upper(),
        }
        page = (STATIC / "index.html").read_text("utf-8")  # one pass: a value's own braces stay as typed
        self._page = re.sub(r"\{\{(\w+)\}\}", lambda m: html.escape(fields.get(m.group(1), m.group(0))), page)

    @property
    def url(self) -> str:
        """The page's URL once started, e.g. ``http://127.0.0.1:8080/``.

        Raises:
            RuntimeError: before :meth:`start`.
        """
        if self._url is None:
            raise RuntimeError("the web adapter is not started")
        return self._url

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/voice/{token}", self._voice)
        app.router.add_post("/audio", self._recording)
        app.router.add_get("/favicon.ico", self._favicon_ico)
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
        app.on_response_prepare.append(_security_headers)
        return app

    async def connect(self) -> None:
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ServerStartError(f"web chat cannot listen on {self.config.host}:{self.config.port}: {exc}") from exc
        self._runner = runner
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown}:{port}/"
        log.info("web chat %s serving on %s", self.adapter_id, self._url)

    async def disconnect(self) -> None:
        tabs = self.hub.all()
        await asyncio.gather(*(c.ws.close(code=1001, message=b"server shutting down") for c in tabs))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._url = None

    async def deliver(self, event: OutgoingEvent) -> None:
        session = event.target.chat.id
        if isinstance(event, ReplyVoice):
            info = await asyncio.to_thread(self.clips.put, event.clip)
            frame: dict[str, Any] | None = {
                "type": "voice",
                "reply_id": event.reply_id,
                "url": f"/voice/{info.token}",
                "mime_type": event.clip.mime_type,
                "duration_s": event.clip.duration_s,
                "waveform": list(event.clip.waveform),
                "text": event.text,
            }
        elif isinstance(event, ReplyVoiceFailed):
            frame = {"type": "voice_failed", "reply_id": event.reply_id, "reason": event.reason}
        else:
            frame = event_frame(event)
        if isinstance(event, ReplyDone | ReplySkipped) and event.target.in_reply_to is not None:
            asked = (session, event.target.in_reply_to.message_id)
            if asked in self._resets:
                del self._resets[asked]
                if isinstance(event, ReplyDone) and not event.notice:
                    self.hub.broadcast(session, {"type": "reset"})  # the page clears before showing the answer
        if frame is None:
            if not isinstance(event, ReplySkipped):
                log.warning("web chat cannot show %s", type(event).__name__)
            return
        self.hub.broadcast(session, frame)

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html", charset="utf-8")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "adapter": self.adapter_id,
                "connections": self.hub.connections,
                "sessions": self.hub.sessions,
            }
        )

    async def _favicon_ico(self, request: web.Request) -> web.Response:
        return web.Response(body=self._favicon, content_type="image/x-icon")

    async def _voice(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        clip = self.clips.info(token)
        data = await asyncio.to_thread(self.clips.read, token) if clip is not None else None
        if clip is None or data is None:
            raise web.HTTPNotFound(text="this voice reply has expired")
        size = len(data)
        headers = {"Accept-Ranges": "bytes"}
        wanted = byte_range(request.headers.get("Range"), size)
        if wanted is None:
            return web.Response(body=data, content_type=clip.mime_type, headers=headers)
        start, end = wanted
        if start >= size:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return web.Response(status=206, body=data[start : end + 1], content_type=clip.mime_type, headers=headers)

    async def _recording(self, request: web.Request) -> web.Response:
        if not self._origin_ok(request):
            raise web.HTTPForbidden(text="cross-origin upload refused")
        rec = await read_recording(request, int(self.config.max_audio_mb * 1024 * 1024))
        audio = Attachment(AttachmentKind.AUDIO, rec.mime_type, data=rec.data, file_name="recording", size=len(rec.data))
        message = replace(self._incoming(rec.session, MessageFrame(type="message", id=rec.id, text="")), attachments=(audio,))
        try:
            await self.bus.publish(message)
        except BusError:
            raise web.HTTPServiceUnavailable(text="the bot is shutting down; try again in a moment") from None
        return web.json_response({"id": rec.id}, status=202)

    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if not origin or origin in self.config.allowed_origins:
            return True
        try:
            page = URL(origin)
            return (page.host, page.port) == (request.url.host, request.url.port)
        except ValueError:
            return False

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._origin_ok(request):
            log.warning("web chat refused a WebSocket from origin %s", request.headers.get("Origin"))
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        session = request.query.get("session")
        if not valid_session(session):
            session = secrets.token_urlsafe(18)
        assert session is not None
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=self.config.max_frame_bytes * 4)
        await ws.prepare(request)
        conn = Connection(session, ws)
        conn.send(
            {
                "type": "welcome",
                "session": session,
                "title": self.title,
                "greeting": self.greeting,
                "hint": HINT,
                "max_chars": self.max_input_chars,
            }
        )
        self.hub.add(conn)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._on_frame(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    log.info("web tab of session %s: %s", session, ws.exception())
        finally:
            self.hub.remove(conn)
            await conn.close()
        return ws

    async def _on_frame(self, conn: Connection, data: str | bytes) -> None:
        try:
            frame = parse_client_frame(data, self.config.max_frame_bytes)
        except ProtocolError as exc:
            log.info("web tab of session %s sent a bad frame: %s", conn.session, exc.code)
            conn.send(error_frame(exc.code, exc.message))
            return
        if not isinstance(frame, MessageFrame):
            conn.send({"type": "pong"})
            return
        if self.max_input_chars is not None and len(frame.text) > self.max_input_chars:
            conn.send(
                {
                    "type": "rejected",
                    "id": frame.id,
                    "code": "too_long",
                    "message": f"Not sent: {len(frame.text):,} characters; the limit is {self.max_input_chars:,}. "
                    "Shorten it and send it again.",
                }
            )
            return
        if _RESET.match(frame.text.strip()):
            self._resets[(conn.session, frame.id)] = None
            while len(self._resets) > _RESETS_TRACKED:
                self._resets.popitem(last=False)
        try:
            await self.bus.publish(self._incoming(conn.session, frame))
        except BusError:
            conn.send(error_frame("unavailable", "The bot is shutting down; try again in a moment."))
            return
        except asyncio.CancelledError:
            raise
        conn.send({"type": "ack", "id": frame.id})
        self.hub.broadcast(conn.session, {"type": "echo", "id": frame.id, "text": frame.text}, skip=(conn,))

    def _incoming(self, session: str, frame: MessageFrame) -> IncomingMessage:
        return IncomingMessage(
            platform=self.platform,
            origin=self.adapter_id,
            chat=Chat(session, ChatKind.PRIVATE, title=self.title),
            author=Author(session, "Web user"),
            message_id=frame.id,
            text=frame.text,
            addressed=Addressed.PRIVATE,
            raw={"type": frame.type, "id": frame.id, "session": session},
        )


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a single ``Range: bytes=A-B`` header (what media elements send) into inclusive offsets.

    Returns:
        ``(start, end)``, or None when the header is absent or not a single byte range
        (the whole body is then sent).
    """
    match = _RANGE.match(header or "")
    if not match or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if end >= start or start >= size else None


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path != "/ws":
        response.headers.update(_HEADERS)
