"""Decoding a speaker's frames: a lost packet comes back from the next packet's in-band FEC."""

from __future__ import annotations

import math

import discord.opus
import numpy as np

from adapters.discord.receive import FRAME_BYTES, decode_run


def _voice_like(frames: int) -> bytes:
    t = np.arange(frames * 960) / 48000
    tone = (0.3 * np.sin(2 * math.pi * 220 * t) * (1 + 0.5 * np.sin(2 * math.pi * 3 * t))) * 32767
    return np.repeat(tone.astype(np.int16), 2).tobytes()  # stereo


def _error(a: bytes, b: bytes) -> float:
    x, y = np.frombuffer(a, np.int16).astype(float), np.frombuffer(b, np.int16).astype(float)
    return float(np.sqrt(np.mean((x - y) ** 2)))


def test_a_lost_packet_before_a_received_one_is_rebuilt_better_than_concealment() -> None:
    discord.opus._load_default()
    pcm = _voice_like(30)
    encoder = discord.opus.Encoder()  # FEC on, as Discord's clients send it
    packets = [encoder.encode(pcm[i:i + FRAME_BYTES], 960) for i in range(0, len(pcm), FRAME_BYTES)]
    lost = 20
    frames: list[bytes | None] = [*packets[:lost], None, *packets[lost + 1:]]
    with_fec = decode_run(discord.opus.Decoder(), frames)
    plc = discord.opus.Decoder()
    concealed = b"".join(decode_run(plc, [f]) for f in frames)  # one frame at a time: no next packet, so PLC
    clean = decode_run(discord.opus.Decoder(), list(packets))
    assert len(with_fec) == len(concealed) == len(pcm)
    span = slice(lost * FRAME_BYTES, (lost + 1) * FRAME_BYTES)
    assert _error(with_fec[span], clean[span]) < 0.5 * _error(concealed[span], clean[span])


def test_silence_frames_and_a_trailing_loss_give_whole_frames() -> None:
    discord.opus._load_default()
    out = decode_run(discord.opus.Decoder(), [b"\xf8\xff\xfe", None])
    assert len(out) == 2 * FRAME_BYTES and not any(out[:FRAME_BYTES])
