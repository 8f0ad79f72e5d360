"""The fake voice server's members *speaking*: audio sent to the bot as real Discord sends it.

A member the fake controls (:mod:`tests.adapters.discord.fake_dave`: the listener and the extra
members of ``FakeVoiceServer(members=N)``) speaks PCM into the channel:

- SPEAKING (op 5, ``{user_id, ssrc, speaking: 1}``) on the bot's voice websocket first, as Discord
  announces a user's SSRC before their audio;
- the PCM (48 kHz stereo s16) Opus-encoded in 20 ms frames (``discord.opus.Encoder``, libopus), then
  five Opus silence frames, then nothing (Discord clients send nothing while silent);
- each frame end-to-end encrypted by the member's own DAVE session (``encrypt_opus``) when DAVE runs;
- transport-encrypted for the bot (``aead_xchacha20_poly1305_rtpsize``: RTP header with the X bit
  and a one-word ``0xBEDE`` header extension, header and extension preamble as AAD, the extension
  body encrypted with the payload, a 4-byte nonce counter at the end), written here with PyNaCl
  independently of the bot's receive code;
- sent over UDP from the server's port to the address the bot selected, at 50 packets a second,
  sequence +1 and timestamp +960 per packet; ``loss`` drops packets, ``reorder`` swaps neighbours.
"""

from __future__ import annotations

import asyncio
import random
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import discord.opus
import nacl.bindings

from tests.adapters.discord.fake_dave import LISTENER_ID

if TYPE_CHECKING:
    from tests.adapters.discord.fake_voice import FakeVoiceServer

FRAME_BYTES = 3840
SILENCE_OPUS = b"\xf8\xff\xfe"
AUDIO_LEVEL_EXTENSION = bytes([0x10, 0x7F, 0, 0])  # RFC 6464 audio level (id 1, one byte), padded to a word


@dataclass
class Spoken:
    """What one member sent."""

    user_id: int
    ssrc: int
    started_at: float = 0.0  # first packet sent (monotonic)
    speech_end_at: float = 0.0  # last packet carrying the speech sent (before the trailing silence)
    sent: int = 0
    dropped: int = 0
    swapped: int = 0
    seqs: list[int] = field(default_factory=list)


class FakeMember:
    """A user the fake controls, with its own SSRC, RTP counters and Opus encoder."""

    def __init__(self, server: FakeVoiceServer, user_id: int = LISTENER_ID, ssrc: int | None = None) -> None:
        self.server = server
        self.user_id = user_id
        self.ssrc = ssrc if ssrc is not None else 5000 + user_id % 1000
        self.seq = random.randrange(1 << 16)
        self.timestamp = random.randrange(1 << 32)
        self.counter = random.randrange(1 << 20)
        self.encoder = discord.opus.Encoder()

    def _packet(self, guild_id: int, opus: bytes) -> bytes:
        session = self.server.live(guild_id)
        assert session is not None, "the bot is not connected to voice"
        dave = session.dave
        if dave is not None and dave.protocol_version and opus != SILENCE_OPUS:
            member = dave.member(self.user_id)
            assert member.ready, "the member is not in the bot's DAVE group yet"
            opus = bytes(member.encrypt_opus(opus))
        header = struct.pack(">BBHII", 0x90, 0x78, self.seq, self.timestamp, self.ssrc)  # V=2, X=1, PT=120
        aad = header + struct.pack(">HH", 0xBEDE, len(AUDIO_LEVEL_EXTENSION) // 4)
        nonce = struct.pack(">I", self.counter)
        box = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(AUDIO_LEVEL_EXTENSION + opus, aad,
                                                                       nonce + bytes(20), session.key)
        self.seq = (self.seq + 1) % (1 << 16)
        self.timestamp = (self.timestamp + 960) % (1 << 32)
        self.counter = (self.counter + 1) % (1 << 32)
        return aad + box + nonce

    async def announce(self, guild_id: int) -> None:
        """SPEAKING (op 5) with this member's SSRC and user id."""
        session = self.server.live(guild_id)
        assert session is not None
        await self.server._send(session, 5, {"user_id": str(self.user_id), "ssrc": self.ssrc, "speaking": 1})

    async def speak(self, guild_id: int, pcm: bytes, *, loss: float = 0.0, reorder: float = 0.0,
                    seed: int = 0, announce: bool = True) -> Spoken:
        """Say ``pcm`` (48 kHz stereo s16) into the guild's channel in real time; returns what was sent."""
        if announce:
            await self.announce(guild_id)
        return await self.play(guild_id, self.prepare(guild_id, pcm), loss=loss, reorder=reorder, seed=seed)

    def prepare(self, guild_id: int, pcm: bytes) -> list[bytes]:
        """The packets that say ``pcm``, then five silence frames (encoded and encrypted now, sent by :meth:`play`)."""
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        frames = [self.encoder.encode(pcm[i:i + FRAME_BYTES], 960) for i in range(0, len(pcm), FRAME_BYTES)]
        return [self._packet(guild_id, f) for f in [*frames, *[SILENCE_OPUS] * 5]]

    async def play(self, guild_id: int, packets: list[bytes], *, loss: float = 0.0, reorder: float = 0.0,
                   seed: int = 0) -> Spoken:
        """Send prepared packets at 50 a second (``loss``: dropped, ``reorder``: neighbours swapped)."""
        session = self.server.live(guild_id)
        assert session is not None and session.selected, "the bot is not connected to voice"
        address = (session.selected["address"], int(session.selected["port"]))
        speech = len(packets) - 5
        rng = random.Random(seed)
        order = list(range(len(packets)))
        spoken = Spoken(self.user_id, self.ssrc)
        if reorder:
            i = 0
            while i < len(order) - 1:
                if rng.random() < reorder:
                    order[i], order[i + 1] = order[i + 1], order[i]
                    spoken.swapped += 1
                    i += 1
                i += 1
        udp = self.server._udp
        assert udp is not None
        start = time.monotonic()
        spoken.started_at = start
        for slot, index in enumerate(order):
            delay = start + slot * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if slot == speech - 1:
                spoken.speech_end_at = time.monotonic()
            if index < speech and rng.random() < loss:
                spoken.dropped += 1
                continue
            udp.sendto(packets[index], address)
            spoken.sent += 1
            spoken.seqs.append(struct.unpack_from(">H", packets[index], 2)[0])
        return spoken
