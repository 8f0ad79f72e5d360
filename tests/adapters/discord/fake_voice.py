"""A protocol-faithful fake Discord voice server on 127.0.0.1: voice gateway v8 (TLS WebSocket) and UDP.

discord.py's real ``VoiceClient`` connects to it through the fake main gateway
(:mod:`tests.adapters.discord.fake_discord`): on the client's op 4 the fake gateway dispatches
``VOICE_STATE_UPDATE`` and ``VOICE_SERVER_UPDATE`` whose ``endpoint`` is this server
(``127.0.0.1:PORT``). The server then speaks what ``discord/gateway.py`` and
``discord/voice_state.py`` (2.7.1) expect:

- HELLO (op 8), IDENTIFY (op 0, checked against the token and session the gateway handed out;
  4004 when wrong), READY (op 2: ssrc, ip, port, modes), SELECT_PROTOCOL (op 1),
  SESSION_DESCRIPTION (op 4: mode ``aead_xchacha20_poly1305_rtpsize``, a fresh 32-byte key,
  ``dave_protocol_version``), HEARTBEAT (op 3, ``{t, seq_ack}``) answered with HEARTBEAT_ACK
  (op 6), SPEAKING (op 5), RESUME (op 7) answered with RESUMED (op 9); every JSON message from
  the server carries ``seq``, binary DAVE frames are ``[seq u16][op][payload]``.
- UDP IP discovery (74-byte request type 1, answered type 2 with the sender's address and port),
  then RTP: the 12-byte header is the AAD, the last 4 bytes are the nonce counter (the 24-byte
  nonce is that counter and 20 zero bytes), PyNaCl opens the XChaCha20-Poly1305 box, and the
  Opus frame is decoded to 48 kHz stereo PCM with ``discord.opus.Decoder`` (libopus).
- DAVE (``dave=True``): the server is the MLS external sender (:mod:`tests.adapters.discord.fake_dave`)
  and adds a member it controls, so it can open the bot's end-to-end-encrypted frames.
  ``require_dave=True`` closes clients that offer no DAVE with 4017.

**TLS, not a patched URL**: discord.py hard-codes ``wss://{endpoint}/?v=8``; this server serves
TLS with a certificate made for the test (a throwaway CA signing ``127.0.0.1``), and
:meth:`FakeVoiceServer.trust` makes the client trust that CA by substituting, for the test,
aiohttp's module-wide verified SSL context (what discord.py's session uses) with one that also
trusts it. Nothing in discord.py is wrapped, so a test that does not call ``trust`` sees the real
certificate failure a client meets with an endpoint it cannot verify.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import socket
import ssl
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import discord.opus
import nacl.bindings
from aiohttp import WSMsgType, web

from tests.waiting import wait_until

MODE = "aead_xchacha20_poly1305_rtpsize"
SILENCE_OPUS = b"\xf8\xff\xfe"
FRAME_SAMPLES = 960  # 20 ms at 48 kHz


def make_certificate(directory: str) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1; returns (ca.pem, cert.pem, key.pem) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "voicebots test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = tuple(os.path.join(directory, n) for n in ("ca.pem", "cert.pem", "key.pem"))
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths  # type: ignore[return-value]


@dataclass
class Packet:
    """One RTP packet the server received, opened and decoded."""

    at: float
    seq: int
    timestamp: int
    ssrc: int
    nonce: int
    opus: bytes
    pcm: bytes
    e2ee: bool = False  # opened with DAVE (end-to-end) as well as the transport key

    @property
    def silent(self) -> bool:
        return self.opus == SILENCE_OPUS or not any(self.pcm)


@dataclass
class Grant:
    """What the main gateway handed the bot for one guild: the voice server must see the same."""

    guild_id: int
    channel_id: int
    user_id: int
    session_id: str
    token: str


@dataclass
class VoiceSession:
    """One voice WebSocket connection (a bot in a guild's channel)."""

    grant: Grant
    ws: web.WebSocketResponse
    ssrc: int
    key: bytes
    dave_version: int = 0
    selected: dict[str, Any] = field(default_factory=dict)
    identify: dict[str, Any] = field(default_factory=dict)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    speaking: list[dict[str, Any]] = field(default_factory=list)
    resumed: bool = False
    seq: int = 0
    dave: Any = None  # fake_dave.DaveServerSide when DAVE runs
    closed_with: int | None = None


class FakeVoiceServer:
    """Voice gateway (TLS WebSocket) and UDP media server of one fake Discord voice region.

    Args:
        dave: answer ``dave_protocol_version: 1`` to clients that offer it, and run the MLS group
            as external sender (else 0: transport encryption only).
        require_dave: close clients whose IDENTIFY offers no DAVE with 4017.
        modes: encryption modes offered in READY.
        dave_flow: ``"commit"`` (the bot commits the listener's addition) or ``"welcome"`` (the listener
            commits the bot's addition; the bot joins by welcome): see :mod:`fake_dave`.
        members: how many users the fake controls in the channel (DAVE members, commit flow for more
            than one); :mod:`fake_speaker` makes them speak.
    """

    def __init__(self, *, dave: bool = True, require_dave: bool = False, modes: tuple[str, ...] = (MODE,),
                 dave_flow: str = "commit", members: int = 1) -> None:
        self.dave = dave
        self.members = members  # users the fake controls in the channel (DAVE members; they can speak)
        self.dave_flow = dave_flow
        self.corrupt_commits = 0  # DAVE: announce this many commits damaged (the client must recover)
        self.revoke_proposals = 0  # DAVE: withdraw this many Add proposals (op 27 revoke) instead of announcing
        self.require_dave = require_dave
        self.modes = list(modes)
        self.grants: dict[int, Grant] = {}  # guild id -> the latest grant
        self.sessions: list[VoiceSession] = []  # every connection, oldest first
        self.packets: dict[int, list[Packet]] = {}  # guild id -> packets, in arrival order
        self.bad_packets = 0
        self.sealed: dict[int, list[bytes]] = {}  # guild id -> E2EE frames sent after the listener left
        self.discoveries = 0
        self.connects = 0
        self.changed = asyncio.Event()
        self.port = 0
        self.udp_port = 0
        self.media_cpu_s = 0.0  # thread CPU the server spent opening and decoding media (benchmarks)
        self._ssrcs = iter(range(1000, 1 << 30))
        self._by_ssrc: dict[int, VoiceSession] = {}
        self._decoders: dict[int, discord.opus.Decoder] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="fake-voice-")
        self.ca_file, self._cert, self._key = make_certificate(self._dir.name)
        self._runner: web.AppRunner | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._restore: Callable[[], None] | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """What VOICE_SERVER_UPDATE carries (discord.py adds ``wss://`` and ``/?v=8``)."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        discord.opus._load_default()
        app = web.Application()
        app.router.add_get("/", self._voice_ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._cert, self._key)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await self._open_udp()

    async def _open_udp(self, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)  # many guilds at 50 packets/s each
        sock.bind(("127.0.0.1", port))
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=sock)
        self.udp_port = self._udp.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        for session in self.sessions:
            if not session.ws.closed:
                await session.ws.close()
        if self._udp is not None:
            self._udp.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.untrust()
        self._dir.cleanup()

    def trust(self) -> None:
        """Make the client trust this server's CA (see the module docstring); undone by :meth:`untrust`/stop."""
        import aiohttp.connector

        context = ssl.create_default_context()
        context.load_verify_locations(self.ca_file)
        previous = aiohttp.connector._SSL_CONTEXT_VERIFIED
        aiohttp.connector._SSL_CONTEXT_VERIFIED = context  # type: ignore[attr-defined]

        def restore() -> None:
            aiohttp.connector._SSL_CONTEXT_VERIFIED = previous  # type: ignore[attr-defined]

        self._restore = restore

    def untrust(self) -> None:
        if self._restore is not None:
            self._restore()
            self._restore = None

    # -- what the main gateway tells us ---------------------------------------------------

    def grant(self, guild_id: int, channel_id: int, user_id: int, session_id: str) -> Grant:
        """A fresh voice token for the bot's session in ``guild_id`` (the gateway's VOICE_SERVER_UPDATE)."""
        grant = Grant(guild_id, channel_id, user_id, session_id, os.urandom(8).hex())
        self.grants[guild_id] = grant
        return grant

    def revoke(self, guild_id: int) -> None:
        """The bot left the guild's voice channel: the token is no longer valid."""
        self.grants.pop(guild_id, None)

    # -- controls -------------------------------------------------------------------------

    def live(self, guild_id: int) -> VoiceSession | None:
        """The guild's open connection, if any."""
        for session in reversed(self.sessions):
            if session.grant.guild_id == guild_id and not session.ws.closed:
                return session
        return None

    async def close(self, guild_id: int, code: int) -> None:
        """Close the guild's voice WebSocket with ``code`` (4014 kicked, 4015 crashed, 4006 invalid, ...)."""
        session = self.live(guild_id)
        assert session is not None, f"no voice connection in guild {guild_id}"
        session.closed_with = code
        await session.ws.close(code=code, message=b"fake voice server")

    async def reset(self, guild_id: int) -> None:
        """Drop the guild's TCP connection without a close frame (a connection reset)."""
        session = self.live(guild_id)
        assert session is not None
        transport = session.ws._req.transport if session.ws._req is not None else None  # type: ignore[union-attr]
        assert transport is not None
        transport.abort()

    async def send_unparsable(self, guild_id: int) -> None:
        """A one-byte binary frame: discord.py's reader fails on it (``struct.error``) and ends, as it does
        when its answer meets a connection the server just closed (``ClientConnectionResetError``)."""
        session = self.live(guild_id)
        assert session is not None, f"no voice connection in guild {guild_id}"
        await session.ws.send_bytes(b"\x00")

    async def move_udp(self) -> None:
        """The media path dies: the UDP socket closes (packets to it meet ICMP port unreachable) and
        connections made from now on are given a new port in READY."""
        old = self._udp
        await self._open_udp()
        if old is not None:
            old.close()

    def audio(self, guild_id: int) -> list[Packet]:
        """Packets received for the guild."""
        return self.packets.get(guild_id, [])

    async def wait_for(self, pred: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Wait until ``pred()`` is truthy (re-checked on every change and every 20 ms)."""
        return await wait_until(self.changed, pred, timeout, 0.02, "fake voice server")

    # -- the voice gateway ------------------------------------------------------------------

    async def _send(self, session: VoiceSession, op: int, d: Any) -> None:
        session.seq += 1
        if not session.ws.closed:
            await session.ws.send_str(json.dumps({"op": op, "d": d, "seq": session.seq}))

    async def send_binary(self, session: VoiceSession, op: int, payload: bytes) -> None:
        """A DAVE binary frame: ``[seq u16][op][payload]``."""
        session.seq += 1
        if not session.ws.closed:
            await session.ws.send_bytes(struct.pack(">HB", session.seq & 0xFFFF, op) + payload)

    async def _voice_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        if request.query.get("v") != "8":
            await ws.close(code=4012, message=b"unknown protocol version")  # Discord: 4012 unknown protocol
            return ws
        self.connects += 1
        await ws.send_str(json.dumps({"op": 8, "d": {"heartbeat_interval": 13750.0}}))
        session: VoiceSession | None = None
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                if session is not None and session.dave is not None:
                    await session.dave.client_binary(bytes(msg.data))
                continue
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op, d = payload.get("op"), payload.get("d") or {}
            if op == 0:
                session = await self._identify(ws, d)
            elif op == 7:
                session = await self._resume(ws, d)
            elif session is None:
                await ws.close(code=4003, message=b"not authenticated")  # Discord: 4003 not authenticated
            elif op == 1:
                await self._select(session, d)
            elif op == 3:
                session.heartbeats.append(d)
                await ws.send_str(json.dumps({"op": 6, "d": {"t": d.get("t")}}))
            elif op == 5:
                session.speaking.append(d)
            elif op == 23 and session.dave is not None:
                await session.dave.transition_ready(d["transition_id"])
            elif op == 31 and session.dave is not None:
                session.dave.invalid_commit(d)
            self.changed.set()
        self.changed.set()
        return ws

    def _check_grant(self, d: dict[str, Any]) -> Grant | None:
        grant = self.grants.get(int(d.get("server_id") or 0))
        if grant is None or d.get("token") != grant.token or d.get("session_id") != grant.session_id:
            return None
        return grant

    async def _identify(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> VoiceSession | None:
        grant = self._check_grant(d)
        if grant is None or int(d.get("user_id") or 0) != grant.user_id:
            await ws.close(code=4004, message=b"authentication failed")
            return None
        offered = int(d.get("max_dave_protocol_version") or 0)
        if self.require_dave and offered < 1:
            await ws.close(code=4017, message=b"E2EE/DAVE protocol required")
            return None
        session = VoiceSession(grant, ws, next(self._ssrcs), os.urandom(32), identify=d)
        session.dave_version = 1 if self.dave and offered >= 1 else 0
        self.sessions.append(session)
        self._by_ssrc[session.ssrc] = session
        await self._send(session, 2, {"ssrc": session.ssrc, "ip": "127.0.0.1", "port": self.udp_port,
                                      "modes": self.modes, "heartbeat_interval": 1})
        return session

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> VoiceSession | None:
        grant = self._check_grant(d)  # after 4015 discord.py asks the gateway again: the latest grant counts
        previous = next((s for s in reversed(self.sessions)
                         if grant is not None and s.grant.guild_id == grant.guild_id and s.selected), None)
        if grant is None or previous is None:
            await ws.close(code=4006, message=b"session no longer valid")
            return None
        session = VoiceSession(grant, ws, previous.ssrc, previous.key, previous.dave_version,
                               dict(previous.selected), previous.identify, resumed=True, seq=previous.seq,
                               dave=previous.dave)
        self.sessions.append(session)
        self._by_ssrc[session.ssrc] = session
        await self._send(session, 9, None)
        return session

    async def _select(self, session: VoiceSession, d: dict[str, Any]) -> None:
        data = d.get("data") or {}
        mode = data.get("mode")
        if d.get("protocol") != "udp" or mode not in self.modes:
            await session.ws.close(code=4016, message=b"unknown encryption mode")
            return
        session.selected = data
        await self._send(session, 4, {"mode": mode, "secret_key": list(session.key), "audio_codec": "opus",
                                      "video_codec": None, "media_session_id": os.urandom(8).hex(),
                                      "dave_protocol_version": session.dave_version})
        if session.dave_version:
            from tests.adapters.discord.fake_dave import DaveServerSide

            session.dave = DaveServerSide(self, session)
            await session.dave.start()

    # -- media ------------------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) == 74 and data[1] == 1:
            self.discoveries += 1
            reply = bytearray(74)
            struct.pack_into(">HHI", reply, 0, 2, 70, struct.unpack_from(">I", data, 4)[0])
            reply[8:8 + len(addr[0])] = addr[0].encode()
            struct.pack_into(">H", reply, 72, addr[1])
            assert self._udp is not None
            self._udp.sendto(bytes(reply), addr)
            return
        if len(data) < 12 + 16 + 4 or data[0] != 0x80 or (data[1] & 0x7F) != 0x78:
            self.bad_packets += 1
            return
        seq, timestamp, ssrc = struct.unpack_from(">HII", data, 2)
        session = self._by_ssrc.get(ssrc)
        if session is None or not session.selected:
            self.bad_packets += 1
            return
        header, box, counter = data[:12], data[12:-4], data[-4:]
        try:
            frame = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(box, header, counter + bytes(20),
                                                                             session.key)
        except Exception:  # noqa: BLE001 - a packet sealed with the wrong key or nonce
            self.bad_packets += 1
            return
        e2ee = False
        if session.dave is not None and frame != SILENCE_OPUS:
            opened = session.dave.open(frame)
            if opened is None and session.dave.removed:
                self.sealed.setdefault(session.grant.guild_id, []).append(frame)  # E2EE, not for us any more
                self.changed.set()
                return
            if opened is None:
                self.bad_packets += 1
                return
            frame, e2ee = opened
        decoder = self._decoders.setdefault(ssrc, discord.opus.Decoder())
        pcm = decoder.decode(frame, fec=False) if frame != SILENCE_OPUS else bytes(FRAME_SAMPLES * 4)
        self.packets.setdefault(session.grant.guild_id, []).append(
            Packet(time.monotonic(), seq, timestamp, ssrc, struct.unpack(">I", counter)[0], frame, pcm, e2ee))
        self.changed.set()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: FakeVoiceServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        started = time.thread_time()
        self.server._datagram(data, addr)
        self.server.media_cpu_s += time.thread_time() - started
