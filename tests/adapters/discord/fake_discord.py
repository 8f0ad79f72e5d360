"""A protocol-faithful fake Discord on 127.0.0.1: REST + gateway WebSocket, recording what the bot sends.

The real discord.py client connects to it (the adapter's ``api_base_url`` and ``gateway_url``
point here). REST answers carry Discord's rate-limit headers; ``fail_next`` makes a route answer
429 (with ``Via``, as Cloudflare-fronted Discord does, else discord.py treats it as a ban); the
gateway speaks HELLO / IDENTIFY / READY / GUILD_CREATE / heartbeats / RESUME with a replayable
event log, and ``force_close`` drops the socket like a Discord-side failure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.waiting import wait_until

BOT_ID = 900000000000000001
APP_ID = 900000000000000002
OWNER_ID = 900000000000000003
JSON = "application/json"  # exactly: discord.py parses JSON only for this content-type


def user(uid: int, name: str, bot: bool = False) -> dict[str, Any]:
    """A Discord user object."""
    return {"id": str(uid), "username": name, "discriminator": "0", "global_name": name, "avatar": None, "bot": bot}


@dataclass
class Sent:
    """One request the bot made."""

    method: str
    path: str
    json: Any = None
    files: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # (field, filename, content_type, data)
    at: float = 0.0
    rate_limited: bool = False  # answered 429


class FakeDiscord:
    """REST and gateway of one fake Discord with one application and bot user."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.fail_next: dict[tuple[str, str], int] = {}  # (method, path prefix) -> number of 429s
        self.refuse_voice_messages = False
        self.refuse_token = False  # answer 401 to /users/@me, as Discord does for a bad token
        self.retry_after = 0.3
        self.guilds: list[dict[str, Any]] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.identifies = 0
        self.identify_payloads: list[dict[str, Any]] = []
        self.resumes = 0
        self.session_id = "sess-1"
        self._log: list[dict[str, Any]] = []  # dispatches of the session, for RESUME
        self._seq = 0
        self._ws: web.WebSocketResponse | None = None
        self._ids = itertools.count(1_000_000_000_000_000_001)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.changed = asyncio.Event()
        self.cdn: dict[str, bytes] = {}  # path under /cdn/ -> file (attachments users sent)
        self.voice_server: Any = None  # a fake_voice.FakeVoiceServer: op 4 then points the bot at it
        self.voice_requests: list[dict[str, Any]] = []  # every op 4 (voice state update) the bot sent
        self.voice_channels: dict[tuple[int, int], int] = {}  # (guild id, user id) -> voice channel id
        self._voice_sessions = itertools.count(1)
        self._bot_voice: dict[int, tuple[int, tuple[bool, bool], str]] = {}  # guild -> channel, (self mute, deaf), session

    # -- lifecycle --------------------------------------------------------------------

    @property
    def api_base(self) -> str:
        """REST base URL (the adapter's ``api_base_url``)."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Gateway URL (the adapter's ``gateway_url``)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/cdn/{path:.+}", self._cdn)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def attachment(self, filename: str, data: bytes, content_type: str, **extra: Any) -> dict[str, Any]:
        """An attachment object whose ``url`` serves ``data`` from this fake's CDN."""
        att_id = self.next_id()
        path = f"attachments/{att_id}/{filename}"
        self.cdn[path] = data
        url = f"http://127.0.0.1:{self.port}/cdn/{path}"
        return {"id": att_id, "filename": filename, "size": len(data), "url": url, "proxy_url": url,
                "content_type": content_type, **extra}

    async def _cdn(self, request: web.Request) -> web.Response:
        data = self.cdn.get(request.match_info["path"])
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    def next_id(self) -> str:
        """A fresh snowflake."""
        return str(next(self._ids))

    # -- world --------------------------------------------------------------------------

    def add_guild(self, guild_id: int, channels: dict[int, str], *, threads: dict[int, int] | None = None,
                  voice: dict[int, str] | None = None, members: list[dict[str, Any]] | None = None,
                  voice_states: list[tuple[int, int]] = ()) -> None:
        """A guild with text channels ``{id: name}``, threads ``{id: parent_id}``, voice channels and members."""
        chans = [{"id": str(c), "type": 0, "name": n, "position": i, "permission_overwrites": [], "guild_id": str(guild_id)}
                 for i, (c, n) in enumerate(channels.items())]
        chans += [{"id": str(c), "type": 2, "name": n, "position": 50 + i, "permission_overwrites": [], "bitrate": 64000,
                   "user_limit": 0, "guild_id": str(guild_id)} for i, (c, n) in enumerate((voice or {}).items())]
        thread_list = [{"id": str(t), "type": 11, "name": f"thread-{t}", "parent_id": str(p), "guild_id": str(guild_id),
                        "owner_id": str(OWNER_ID), "thread_metadata": {"archived": False, "auto_archive_duration": 60,
                        "archive_timestamp": "2026-01-01T00:00:00+00:00", "locked": False}, "message_count": 0,
                        "member_count": 1, "rate_limit_per_user": 0} for t, p in (threads or {}).items()]
        member_list = [{"user": m, "roles": [], "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False, "mute": False, "flags": 0}
                       for m in (members or []) + [user(BOT_ID, "voicebot", True)]]
        self.guilds.append({
            "id": str(guild_id), "name": f"guild-{guild_id}", "owner_id": str(OWNER_ID), "unavailable": False,
            "channels": chans, "threads": thread_list, "members": member_list, "member_count": len(member_list),
            "roles": [{"id": str(guild_id), "name": "@everyone", "permissions": "2248473465835073", "position": 0,
                       "color": 0, "hoist": False, "managed": False, "mentionable": False}],
            "voice_states": [{"user_id": str(u), "channel_id": str(c), "session_id": "v", "deaf": False, "mute": False,
                              "self_deaf": False, "self_mute": False, "self_video": False, "suppress": False,
                              "request_to_speak_timestamp": None} for u, c in voice_states],
            "emojis": [], "stickers": [], "features": [], "large": False, "joined_at": "2026-01-01T00:00:00+00:00",
            "premium_tier": 0, "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "nsfw_level": 0, "preferred_locale": "en-US", "system_channel_flags": 0,
        })

    # -- gateway ------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif op == 2:
                self.identifies += 1
                self.identify_payloads.append(payload["d"])
                self._log.clear()
                self._seq = 0
                await self._ready(payload["d"].get("shard"))
            elif op == 4:
                await self._voice_state_request(payload["d"])
            elif op == 6:
                self.resumes += 1
                since = payload["d"]["seq"] or 0
                for event in [e for e in self._log if e["s"] > since]:
                    await ws.send_str(json.dumps(event))
                await self._dispatch("RESUMED", {})
        if self._ws is ws:
            self._ws = None
        return ws

    async def _ready(self, shard: list[int] | None = None) -> None:
        ready: dict[str, Any] = {
            "v": 10, "user": user(BOT_ID, "voicebot", True), "session_id": self.session_id,
            "resume_gateway_url": self.gateway_url, "guilds": [{"id": g["id"], "unavailable": True} for g in self.guilds],
            "application": {"id": str(APP_ID), "flags": 0}, "private_channels": [], "relationships": [],
        }
        if shard is not None:  # Discord echoes the shard of the IDENTIFY in READY
            ready["shard"] = shard
        await self._dispatch("READY", ready)
        for guild in self.guilds:
            await self._dispatch("GUILD_CREATE", guild)

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        frame = {"op": 0, "t": event, "s": self._seq, "d": data}
        if event not in ("READY", "RESUMED"):
            self._log.append(frame)
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps(frame))

    # -- voice (op 4 -> VOICE_STATE_UPDATE + VOICE_SERVER_UPDATE) ----------------------------

    @staticmethod
    def _voice_state(guild_id: int, member: dict[str, Any], channel_id: int | None, session_id: str,
                     d: dict[str, Any] | None = None) -> dict[str, Any]:
        d = d or {}
        return {"guild_id": str(guild_id), "channel_id": None if channel_id is None else str(channel_id),
                "user_id": member["id"], "session_id": session_id, "deaf": bool(d.get("deaf")),
                "mute": bool(d.get("mute")), "self_deaf": bool(d.get("self_deaf")), "self_mute": bool(d.get("self_mute")),
                "self_video": False, "suppress": False, "request_to_speak_timestamp": None,
                "member": {"user": member, "roles": [], "joined_at": "2026-01-01T00:00:00+00:00",
                           "deaf": bool(d.get("deaf")), "mute": bool(d.get("mute")), "flags": 0}}

    async def _voice_state_request(self, d: dict[str, Any]) -> None:
        """The bot's op 4: echo its voice state, and hand out the voice server when it joins a channel.

        An op 4 that stays in the bot's channel and only changes its self mute or deafen is echoed with the
        same session and no voice server (as Discord does: the voice connection carries on).
        """
        self.voice_requests.append(d)
        self.changed.set()
        guild_id = int(d["guild_id"])
        channel_id = int(d["channel_id"]) if d.get("channel_id") else None
        flags = (bool(d.get("self_mute")), bool(d.get("self_deaf")))
        previous = self._bot_voice.get(guild_id)
        if channel_id is not None and previous is not None and previous[0] == channel_id and previous[1] != flags:
            self._bot_voice[guild_id] = (channel_id, flags, previous[2])
            await self._dispatch("VOICE_STATE_UPDATE", self._voice_state(guild_id, user(BOT_ID, "voicebot", True),
                                                                        channel_id, previous[2], d))
            return
        session_id = f"voice-session-{next(self._voice_sessions)}"
        if channel_id is None:
            self._bot_voice.pop(guild_id, None)
        else:
            self._bot_voice[guild_id] = (channel_id, flags, session_id)
        if channel_id is None:
            self.voice_channels.pop((guild_id, BOT_ID), None)
            if self.voice_server is not None:
                self.voice_server.revoke(guild_id)
        else:
            self.voice_channels[(guild_id, BOT_ID)] = channel_id
        await self._dispatch("VOICE_STATE_UPDATE", self._voice_state(guild_id, user(BOT_ID, "voicebot", True), channel_id,
                                                                    session_id, d))
        if channel_id is not None and self.voice_server is not None:
            grant = self.voice_server.grant(guild_id, channel_id, BOT_ID, session_id)
            await self._dispatch("VOICE_SERVER_UPDATE", {"token": grant.token, "guild_id": str(guild_id),
                                                         "endpoint": self.voice_server.endpoint})

    async def move_voice(self, guild_id: int, member: dict[str, Any], channel_id: int | None, *,
                         self_mute: bool = False, self_deaf: bool = False, mute: bool = False,
                         deaf: bool = False) -> None:
        """``member`` joins, leaves (``channel_id`` None), moves, mutes or deafens in voice (``self_*``: by
        themselves; ``mute``, ``deaf``: by the server); for the bot, a kick or a move."""
        user_id = int(member["id"])
        if channel_id is None:
            self.voice_channels.pop((guild_id, user_id), None)
            if user_id == BOT_ID and self.voice_server is not None:
                self.voice_server.revoke(guild_id)
        else:
            self.voice_channels[(guild_id, user_id)] = channel_id
        await self._dispatch("VOICE_STATE_UPDATE", self._voice_state(guild_id, member, channel_id, "v",
                                                                    {"self_mute": self_mute, "self_deaf": self_deaf,
                                                                     "mute": mute, "deaf": deaf}))

    async def force_close(self, code: int = 4000) -> None:
        """Drop the gateway socket (Discord-side failure); the client must RESUME."""
        assert self._ws is not None
        ws, self._ws = self._ws, None
        await ws.close(code=code, message=b"forced")

    async def message(self, channel_id: int, author: dict[str, Any], content: str, *, guild_id: int | None = None,
                      mentions: list[dict[str, Any]] = (), reply_to: dict[str, Any] | None = None,
                      attachments: list[dict[str, Any]] = (), flags: int = 0) -> dict[str, Any]:
        """Dispatch a MESSAGE_CREATE (queued for RESUME when the socket is down)."""
        data: dict[str, Any] = {
            "id": self.next_id(), "channel_id": str(channel_id), "author": author, "content": content,
            "timestamp": "2026-05-01T12:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": list(mentions), "mention_roles": [], "attachments": list(attachments),
            "embeds": [], "pinned": False, "type": 19 if reply_to else 0, "flags": flags,
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            data["member"] = {"roles": [], "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False, "mute": False, "flags": 0}
        if reply_to is not None:
            data["message_reference"] = {"message_id": reply_to["id"], "channel_id": reply_to["channel_id"]}
            data["referenced_message"] = reply_to
        await self._dispatch("MESSAGE_CREATE", data)
        return data

    async def interaction(self, name: str, options: dict[str, str], *, guild_id: int, channel_id: int,
                          member: dict[str, Any], permissions: str | None = None) -> dict[str, Any]:
        """Dispatch an INTERACTION_CREATE for a slash command (``permissions``: the member's, as Discord computes)."""
        data = {
            "id": self.next_id(), "application_id": str(APP_ID), "type": 2, "token": f"tok-{self._seq}",
            "version": 1, "guild_id": str(guild_id), "channel_id": str(channel_id),
            "channel": {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": "general",
                        "position": 0, "permission_overwrites": []},
            "member": {"user": member, "roles": [], "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False,
                       "mute": False, "flags": 0, "permissions": permissions or "2248473465835073"},
            "data": {"id": self.next_id(), "name": name, "type": 1, "guild_id": str(guild_id),
                     "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()]},
            "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "attachment_size_limit": 10485760, "authorizing_integration_owners": {"0": str(guild_id)}, "context": 0,
        }
        await self._dispatch("INTERACTION_CREATE", data)
        return data

    # -- REST -----------------------------------------------------------------------------

    def _headers(self, bucket: str) -> dict[str, str]:
        return {"X-RateLimit-Bucket": bucket, "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4",
                "X-RateLimit-Reset-After": "1.0", "X-RateLimit-Reset": f"{time.time() + 1:.3f}"}

    def _json(self, data: Any, status: int = 200, bucket: str = "b") -> web.Response:
        headers = self._headers(bucket) | {"Content-Type": JSON}  # no charset: discord.py compares exactly
        return web.Response(body=json.dumps(data).encode(), status=status, headers=headers)

    def _message_object(self, channel_id: str, payload: dict[str, Any], files: list[tuple[str, str, str, bytes]]) -> dict[str, Any]:
        atts = [{"id": self.next_id(), "filename": f[1], "size": len(f[3]), "url": "http://x/a", "proxy_url": "http://x/a",
                 "content_type": f[2]} for f in files]
        return {"id": self.next_id(), "channel_id": channel_id, "author": user(BOT_ID, "voicebot", True),
                "content": payload.get("content") or "", "timestamp": "2026-05-01T12:00:00+00:00",
                "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [],
                "attachments": atts, "embeds": [], "pinned": False, "type": 0, "flags": payload.get("flags", 0)}

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        for (m, prefix), n in list(self.fail_next.items()):
            if m == method and path.startswith(prefix) and n > 0:
                self.fail_next[(m, prefix)] = n - 1
                self.sent.append(Sent(method, path, None, at=time.monotonic(), rate_limited=True))
                self.changed.set()
                headers = self._headers("msgs") | {"X-RateLimit-Remaining": "0", "Via": "1.1 google",
                                                   "Retry-After": str(self.retry_after), "Content-Type": JSON}
                body = {"message": "You are being rate limited.", "retry_after": self.retry_after, "global": False}
                return web.Response(body=json.dumps(body).encode(), status=429, headers=headers)
        payload: Any = None
        files: list[tuple[str, str, str, bytes]] = []
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(data)
                else:
                    files.append((part.name, part.filename, part.headers.get("Content-Type", ""), bytes(data)))  # type: ignore[union-attr]
        elif request.can_read_body:
            raw = await request.read()
            payload = json.loads(raw) if raw else None
        self.sent.append(Sent(method, path, payload, files, time.monotonic()))
        self.changed.set()
        return self._answer(method, path, payload or {}, files, request)

    def _answer(self, method: str, path: str, payload: Any, files: list, request: web.Request) -> web.StreamResponse:
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            if self.refuse_token:
                return self._json({"message": "401: Unauthorized", "code": 0}, 401)
            return self._json(user(BOT_ID, "voicebot", True))
        if path == "/oauth2/applications/@me":
            return self._json({"id": str(APP_ID), "name": "voicebot", "description": "", "icon": None,
                               "bot_public": True, "bot_require_code_grant": False, "owner": user(OWNER_ID, "owner"),
                               "verify_key": "k", "flags": 0})
        if path == "/gateway/bot":
            return self._json({"url": self.gateway_url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
        if parts[0] == "applications" and method == "PUT":
            guild = parts[3] if len(parts) > 3 else None
            return self._json([{**c, "id": self.next_id(), "application_id": str(APP_ID), "version": "1",
                                "default_member_permissions": None, "guild_id": guild, "type": c.get("type", 1)}
                               for c in payload])
        if parts[0] == "channels" and parts[-1] == "typing":
            return web.Response(status=204, headers=self._headers("typing"))
        if parts[0] == "channels" and parts[2] == "messages" and method == "POST":
            if self.refuse_voice_messages and payload.get("flags", 0) & 8192:
                return self._json({"message": "Cannot send voice messages in this channel", "code": 50173}, 400)
            return self._json(self._message_object(parts[1], payload, files), bucket="msgs")
        if parts[0] == "channels" and parts[2] == "messages" and method == "PATCH":
            obj = self._message_object(parts[1], payload, files)
            obj["id"] = parts[3]
            return self._json(obj, bucket="edit")
        if parts[0] == "interactions":
            return self._json({"interaction": {"id": parts[1], "type": 2, "response_message_loading":
                               payload.get("type") == 5}})
        if parts[0] == "webhooks" and method == "DELETE":  # delete the original response / a follow-up
            return web.Response(status=204, headers=self._headers("hook"))
        if parts[0] == "webhooks":
            channel = "0"
            return self._json(self._message_object(channel, payload, files), bucket="hook")
        return self._json({"message": "404: Not Found", "code": 0}, 404)

    # -- queries ----------------------------------------------------------------------------

    def messages(self, channel_id: int | None = None) -> list[Sent]:
        """Messages the bot posted (not 429'd), optionally in one channel."""
        return [s for s in self.sent if s.method == "POST" and "/messages" in s.path and s.path.startswith("/channels/")
                and not s.rate_limited
                and (channel_id is None or s.path.startswith(f"/channels/{channel_id}/"))]

    def matching(self, pred: Callable[[Sent], bool]) -> list[Sent]:
        """Every recorded request matching ``pred``."""
        return [s for s in self.sent if pred(s)]

    async def wait_for(self, pred: Callable[[], Any], timeout: float = 10.0, recheck_s: float = 0.02) -> Any:
        """Wait until ``pred()`` is truthy; returns its value.

        Woken by every request the fake records (``changed``), so a reply is seen as soon as it
        lands; ``pred`` is also re-checked every ``recheck_s`` for state that no request changes.
        """
        return await wait_until(self.changed, pred, timeout, recheck_s, "fake discord")
