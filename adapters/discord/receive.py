"""Voice receive: what the other people in the voice channel say, as 20 ms PCM frames per user.

discord.py has no receive API, so this builds one on its hooks: a socket listener
(``VoiceConnectionState.add_socket_listener``; discord.py's own reader thread calls it with each
datagram) and the voice websocket hook (:class:`adapters.discord.voice.TrackedVoiceClient` passes
every JSON message here). Per packet, on a worker thread of its own (never the event loop, never
discord.py's reader or player thread):

1. RTP parsed and transport-decrypted (:mod:`adapters.discord.rtp`);
2. the SSRC mapped to a user through SPEAKING (op 5: ``{user_id, ssrc, speaking}``); a user's
   CLIENT_DISCONNECT (op 13) drops them; packets of a not yet mapped SSRC wait (one second at most);
3. DAVE end-to-end decryption with the bot's own ``davey`` session (``dave_session.decrypt(user_id,
   ...)``: each sender's frames open with that sender's key from the MLS group), passthrough only while
   davey allows it for that user;
4. reordered and loss-checked in a per-user :class:`~adapters.discord.jitter.JitterBuffer`;
5. Opus-decoded per user (``discord.opus.Decoder``; a lost packet is rebuilt from the in-band forward
   error correction of the packet after it when that one is there, else concealed by libopus), to 48 kHz
   stereo 16-bit PCM. Discord clients end a talk spurt with five Opus silence frames and then send
   nothing; the hearing counts the time without audio as silence (``voice.listening``), so nothing is
   invented here.

The frames go to ``deliver(user_id, pcm)`` on the event loop. Nothing is kept once delivered.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import davey
import discord.opus

from adapters.discord import rtp
from adapters.discord.jitter import JitterBuffer

log = logging.getLogger(__name__)

FRAME_BYTES = 3840  # 20 ms of 48 kHz stereo s16
SILENCE_OPUS = b"\xf8\xff\xfe"
DAVE_MAGIC = b"\xfa\xfa"
PENDING_LIMIT = 50  # packets of an unmapped SSRC kept (one second), oldest dropped first
TICK_S = 0.01

Deliver = Callable[[int, bytes], None]
Gone = Callable[[int], None]


@dataclass
class _Speaker:
    user_id: int
    jitter: JitterBuffer = field(default_factory=JitterBuffer)
    decoder: discord.opus.Decoder | None = None


@dataclass
class ReceiveStats:
    """Counters of one receiver (tests and benchmarks)."""

    packets: int = 0
    undecryptable: int = 0  # transport or DAVE decryption failed
    unmapped: int = 0  # dropped: their SSRC never got a user in time
    lost: int = 0
    late: int = 0
    frames: int = 0  # PCM frames delivered (sound, concealment, the silence frames that end a spurt)
    cpu_s: float = 0.0  # worker thread CPU time


class VoiceReceiver:
    """The receive path of one voice connection (a discord.py ``VoiceClient``).

    Args:
        vc: the connected voice client (its ``_connection`` holds the socket, key and DAVE session).
        loop: the event loop ``deliver`` and ``gone`` run on.
        deliver: takes a user id and whole 20 ms frames of their PCM.
        gone: a user left the channel (CLIENT_DISCONNECT).
    """

    def __init__(self, vc: Any, loop: asyncio.AbstractEventLoop, deliver: Deliver, gone: Gone | None = None) -> None:
        self.vc = vc
        self.loop = loop
        self.deliver = deliver
        self.gone = gone
        self.stats = ReceiveStats()
        self.users: dict[int, int] = {}  # ssrc -> user id (read by the worker, written through its queue)
        self.blocked: frozenset[int] = frozenset()  # user ids whose audio is not decoded (replaced whole)
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._speakers: dict[int, _Speaker] = {}  # ssrc -> state (worker thread only)
        self._pending: dict[int, list[tuple[rtp.RtpPacket, float]]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- lifecycle (event loop) ------------------------------------------------------------

    def start(self) -> None:
        """Listen on the connection's UDP socket and start the worker thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="discord-voice-receive", daemon=True)
        self._thread.start()
        self.vc._connection.add_socket_listener(self._datagram)

    def stop(self) -> None:
        """Stop listening; everything held is dropped."""
        try:
            self.vc._connection.remove_socket_listener(self._datagram)
        except Exception:  # noqa: BLE001 - the connection may be gone already
            log.debug("socket listener already removed", exc_info=True)
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=1.0)
        self._speakers.clear()
        self._pending.clear()

    def block(self, user_ids: frozenset[int]) -> None:
        """Decode nothing of these users (muted, deafened, bots, opted out, listening off)."""
        self.blocked = user_ids

    # -- the voice websocket (event loop) ---------------------------------------------------

    def websocket_message(self, msg: dict[str, Any]) -> None:
        """A JSON message of the voice websocket: SPEAKING maps an SSRC, CLIENT_DISCONNECT drops a user."""
        op, d = msg.get("op"), msg.get("d") or {}
        try:
            if op == 5 and "user_id" in d and "ssrc" in d:
                self._inbox.put(("map", (int(d["ssrc"]), int(d["user_id"]))))
            elif op == 12 and "user_id" in d and d.get("audio_ssrc"):  # older servers' CLIENT_CONNECT
                self._inbox.put(("map", (int(d["audio_ssrc"]), int(d["user_id"]))))
            elif op == 13 and "user_id" in d:
                user_id = int(d["user_id"])
                self._inbox.put(("unmap", user_id))
                if self.gone is not None:
                    self.gone(user_id)
        except (TypeError, ValueError):
            log.warning("voice receive: malformed op %s: %r", op, d)

    # -- discord.py's socket reader thread ------------------------------------------------------

    def _datagram(self, data: bytes) -> None:
        self._inbox.put(("packet", (data, time.monotonic())))

    # -- the worker thread ------------------------------------------------------------------------

    def _run(self) -> None:
        started = time.thread_time()
        try:
            while not self._stop.is_set():
                try:
                    kind, item = self._inbox.get(timeout=TICK_S)
                    self._handle(kind, item)
                    while True:
                        kind, item = self._inbox.get_nowait()
                        self._handle(kind, item)
                except queue.Empty:
                    pass
                self._drain(time.monotonic())
                self.stats.cpu_s = time.thread_time() - started
        except Exception:  # noqa: BLE001 - the receiver dies, never the bot
            log.exception("voice receive worker failed")

    def _handle(self, kind: str, item: Any) -> None:
        if kind == "packet":
            data, at = item
            packet = rtp.parse(data)
            if packet is not None:
                self._packet(packet, at)
        elif kind == "map":
            ssrc, user_id = item
            self.users[ssrc] = user_id
            for packet, at in self._pending.pop(ssrc, []):
                self._packet(packet, at)
        elif kind == "unmap":
            for ssrc in [s for s, u in self.users.items() if u == item]:
                del self.users[ssrc]
                self._speakers.pop(ssrc, None)
                self._pending.pop(ssrc, None)

    def _packet(self, packet: rtp.RtpPacket, at: float) -> None:
        state = self.vc._connection
        if packet.ssrc == getattr(state, "ssrc", None):
            return
        user_id = self.users.get(packet.ssrc)
        if user_id is None:
            waiting = self._pending.setdefault(packet.ssrc, [])
            waiting.append((packet, at))
            if len(waiting) > PENDING_LIMIT:
                del waiting[0]
                self.stats.unmapped += 1
            return
        if user_id in self.blocked:
            return
        self.stats.packets += 1
        key = state.secret_key
        frame = rtp.open_packet(packet, bytes(key)) if isinstance(key, (list, bytes)) else None
        if frame is not None and frame != SILENCE_OPUS:
            frame = self._dave_open(state, user_id, frame)
        if frame is None:
            self.stats.undecryptable += 1
            return
        speaker = self._speakers.get(packet.ssrc)
        if speaker is None or speaker.user_id != user_id:
            speaker = self._speakers[packet.ssrc] = _Speaker(user_id)
        speaker.jitter.push(packet.seq, frame, at)

    @staticmethod
    def _dave_open(state: Any, user_id: int, frame: bytes) -> bytes | None:
        session = getattr(state, "dave_session", None)
        if session is None or not getattr(state, "dave_protocol_version", 0):
            return frame
        if frame.endswith(DAVE_MAGIC):
            try:
                return bytes(session.decrypt(user_id, davey.MediaType.audio, frame))
            except Exception:  # noqa: BLE001 - no key for this sender (yet): never decode sealed bytes
                log.debug("DAVE frame of %s does not open", user_id)
                return None
        try:
            return frame if session.can_passthrough(user_id) else None
        except Exception:  # noqa: BLE001 - no decryptor for this user yet: davey only passes through in transitions
            return None

    def _drain(self, now: float) -> None:
        for speaker in list(self._speakers.values()):
            frames = speaker.jitter.pop(now)
            if not frames:
                continue
            if speaker.user_id in self.blocked:
                speaker.jitter.reset()
                continue
            if speaker.decoder is None:
                speaker.decoder = discord.opus.Decoder()
            pcm = decode_run(speaker.decoder, frames)
            self.stats.lost, self.stats.late = self._losses()
            self.stats.frames += len(pcm) // FRAME_BYTES
            try:
                self.loop.call_soon_threadsafe(self.deliver, speaker.user_id, pcm)
            except RuntimeError:  # the loop is closed: the bot is stopping
                return

    def _losses(self) -> tuple[int, int]:
        speakers = self._speakers.values()
        return sum(s.jitter.lost for s in speakers), sum(s.jitter.late for s in speakers)


def decode_run(decoder: discord.opus.Decoder, frames: list[bytes | None]) -> bytes:
    """PCM of a run of a speaker's frames in order (``None``: a lost packet).

    A lost packet right before a received one is rebuilt from that packet's in-band FEC (Discord's
    clients and discord.py's encoder send it); other losses are concealed (PLC).
    """
    out = bytearray()
    for i, frame in enumerate(frames):
        following = frames[i + 1] if i + 1 < len(frames) else None
        try:
            if frame is None and following is not None and following != SILENCE_OPUS:
                pcm = decoder.decode(following, fec=True)
            elif frame is None:
                pcm = decoder.decode(None, fec=False)
            elif frame == SILENCE_OPUS:
                pcm = bytes(FRAME_BYTES)
            else:
                pcm = decoder.decode(frame, fec=False)
        except discord.opus.OpusError:
            pcm = bytes(FRAME_BYTES)
        if len(pcm) != FRAME_BYTES:  # a frame of another length (10/40/60 ms): keep whole 20 ms frames
            pcm = (pcm + bytes(FRAME_BYTES))[:FRAME_BYTES] if len(pcm) < FRAME_BYTES \
                else pcm[:len(pcm) // FRAME_BYTES * FRAME_BYTES]
        out += pcm
    return bytes(out)
