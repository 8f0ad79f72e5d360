"""Voice packets in: RTP parsing and Discord's ``aead_xchacha20_poly1305_rtpsize`` transport decryption.

What Discord sends a client that listens (the same mode discord.py sends with, see
``VoiceClient._encrypt_aead_xchacha20_poly1305_rtpsize``), per packet::

    RTP header (12 bytes: V=2, payload type 120, seq u16, timestamp u32, ssrc u32)
    CSRC list (4 bytes each, as many as the header's CC field says)
    extension preamble (4 bytes: profile 0xBEDE, length in 32-bit words), when the X bit is set
    sealed box: extension body (length * 4 bytes) + Opus frame, then the 16-byte Poly1305 tag
    nonce counter (4 bytes, big-endian): the 24-byte nonce is the counter followed by 20 zero bytes

"rtpsize" means the additional authenticated data is the header up to and including the
extension preamble, and the extension body is encrypted with the payload (so it is dropped
after opening). RTCP packets (payload types 200-204) share the socket and are ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import nacl.bindings

RTP_VERSION = 2
OPUS_PAYLOAD_TYPE = 0x78
RTCP_TYPES = range(200, 205)
HEADER_BYTES = 12
TAG_BYTES = 16
NONCE_BYTES = 4


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One received RTP packet, still sealed.

    Attributes:
        seq: the sequence number (wraps at 65,536).
        timestamp: the RTP timestamp (48 kHz: +960 per 20 ms frame).
        ssrc: the sender's synchronization source.
        aad: the header bytes authenticated but not encrypted (header, CSRCs, extension preamble).
        sealed: the encrypted extension body and payload, with the tag.
        nonce: the 4-byte nonce counter.
        extension_words: the extension body's length in 32-bit words (0: no extension).
    """

    seq: int
    timestamp: int
    ssrc: int
    aad: bytes
    sealed: bytes
    nonce: bytes
    extension_words: int = 0


def parse(data: bytes) -> RtpPacket | None:
    """The RTP packet in ``data``, or None for anything else (RTCP, IP discovery, junk)."""
    if len(data) < HEADER_BYTES + TAG_BYTES + NONCE_BYTES or data[0] >> 6 != RTP_VERSION:
        return None
    if data[1] in RTCP_TYPES or data[1] & 0x7F != OPUS_PAYLOAD_TYPE:
        return None
    csrc_count = data[0] & 0x0F
    has_extension = bool(data[0] & 0x10)
    end = HEADER_BYTES + 4 * csrc_count
    words = 0
    if has_extension:
        if len(data) < end + 4:
            return None
        words = struct.unpack_from(">H", data, end + 2)[0]
        end += 4
    if len(data) < end + TAG_BYTES + NONCE_BYTES:
        return None
    seq, timestamp, ssrc = struct.unpack_from(">HII", data, 2)
    return RtpPacket(seq, timestamp, ssrc, bytes(data[:end]), bytes(data[end:-NONCE_BYTES]),
                     bytes(data[-NONCE_BYTES:]), words)


def open_packet(packet: RtpPacket, key: bytes) -> bytes | None:
    """The Opus frame inside ``packet`` (transport encryption removed), or None when it does not open."""
    try:
        plain = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            packet.sealed, packet.aad, packet.nonce + bytes(20), key)
    except Exception:  # noqa: BLE001 - nacl raises CryptoError for a forged or damaged packet
        return None
    skip = 4 * packet.extension_words
    return plain[skip:] if len(plain) >= skip else None

