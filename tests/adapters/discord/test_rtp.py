"""RTP parsing and rtpsize transport decryption (packets sealed here with PyNaCl, as Discord seals them)."""

from __future__ import annotations

import os
import struct

import nacl.bindings

from adapters.discord.rtp import open_packet, parse

KEY = os.urandom(32)


def sealed(payload: bytes, *, csrcs: tuple[int, ...] = (), extension: bytes = b"", seq: int = 7,
           counter: int = 42, key: bytes = KEY) -> bytes:
    first = 0x80 | (0x10 if extension else 0) | len(csrcs)
    aad = struct.pack(">BBHII", first, 0x78, seq, 96000, 1234) + b"".join(struct.pack(">I", c) for c in csrcs)
    if extension:
        aad += struct.pack(">HH", 0xBEDE, len(extension) // 4)
    nonce = struct.pack(">I", counter)
    box = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(extension + payload, aad, nonce + bytes(20), key)
    return aad + box + nonce


def test_a_plain_packet_opens_to_its_opus_frame() -> None:
    packet = parse(sealed(b"opus-frame"))
    assert packet is not None and (packet.seq, packet.timestamp, packet.ssrc) == (7, 96000, 1234)
    assert open_packet(packet, KEY) == b"opus-frame"


def test_csrcs_are_authenticated_and_the_encrypted_extension_body_is_dropped() -> None:
    data = sealed(b"voice", csrcs=(1, 2), extension=bytes([0x10, 0x7F, 0, 0, 0x21, 1, 2, 0]))
    packet = parse(data)
    assert packet is not None and packet.extension_words == 2 and len(packet.aad) == 12 + 8 + 4
    assert open_packet(packet, KEY) == b"voice"


def test_a_forged_header_a_wrong_key_or_a_damaged_box_does_not_open() -> None:
    data = bytearray(sealed(b"voice"))
    data[11] ^= 1  # the ssrc, part of the authenticated header
    forged = parse(bytes(data))
    assert forged is not None and open_packet(forged, KEY) is None
    good = parse(sealed(b"voice"))
    assert good is not None and open_packet(good, os.urandom(32)) is None
    damaged = bytearray(sealed(b"voice"))
    damaged[14] ^= 0xFF
    packet = parse(bytes(damaged))
    assert packet is not None and open_packet(packet, KEY) is None


def test_rtcp_ip_discovery_and_junk_are_not_rtp() -> None:
    rtcp = bytearray(sealed(b"report"))
    rtcp[1] = 200  # sender report
    assert parse(bytes(rtcp)) is None
    assert parse(struct.pack(">HHI", 2, 70, 1234) + bytes(66)) is None  # an IP discovery answer
    assert parse(b"\x80\x78" + bytes(10)) is None  # too short for a tag and a nonce
