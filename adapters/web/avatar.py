"""A bot's own colour, and the favicon drawn in it: each bot's page looks (and tabs) distinct."""

from __future__ import annotations

import colorsys
import hashlib
import struct
import zlib


def hue(name: str) -> int:
    """A stable hue (0-359) for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:2], "big") % 360


def _rgb(degrees: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(degrees / 360, 0.45, 0.65)
    return round(r * 255), round(g * 255), round(b * 255)


def _png(size: int, rgb: tuple[int, int, int]) -> bytes:
    """A ``size``×``size`` RGBA PNG of a filled circle (anti-aliased edge)."""
    rows = []
    c = (size - 1) / 2
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            d = ((x - c) ** 2 + (y - c) ** 2) ** 0.5
            alpha = max(0.0, min(1.0, size / 2 - d))
            row += bytes([*rgb, round(alpha * 255)])
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


def favicon(name: str, size: int = 32) -> bytes:
    """``/favicon.ico`` for the bot ``name``: one PNG image in an ICO container (every browser reads it)."""
    png = _png(size, _rgb(hue(name)))
    entry = struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(png), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + png
