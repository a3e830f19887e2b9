"""A small PNG reader (stdlib zlib only) so tests can count the colours of a browser screenshot
without an imaging library. 8-bit RGB and RGBA, non-interlaced: what Chromium writes."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type -> bytes per pixel at 8 bits


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]  # unfiltered scanlines

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        i = x * self.channels
        r, g, b = self.rows[y][i : i + 3]
        return r, g, b

    def count(self, rgb: tuple[int, int, int], box: tuple[int, int, int, int] | None = None) -> int:
        """Pixels of exactly `rgb`, in `box` (left, top, right, bottom) or the whole image."""
        left, top, right, bottom = box or (0, 0, self.width, self.height)
        n = self.channels
        wanted = bytes(rgb)
        total = 0
        for row in self.rows[max(0, top) : min(bottom, self.height)]:
            for x in range(max(0, left), min(right, self.width)):
                if row[x * n : x * n + 3] == wanted:
                    total += 1
        return total

    def colours(self) -> Counter[tuple[int, int, int]]:
        n = self.channels
        found: Counter[tuple[int, int, int]] = Counter()
        for row in self.rows:
            for x in range(0, len(row), n):
                found[(row[x], row[x + 1], row[x + 2])] += 1
        return found


def decode(data: bytes) -> Image:
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    pos, idat, header = len(SIGNATURE), bytearray(), None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(
            f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}"
        )
    channels = CHANNELS[colour]
    return Image(
        width, height, channels, _unfilter(zlib.decompress(idat), width * channels, channels)
    )


def _unfilter(raw: bytes, stride: int, bpp: int) -> list[bytes]:
    rows: list[bytes] = []
    previous = bytes(stride)
    for start in range(0, len(raw), stride + 1):
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        elif kind != 0:
            raise ValueError(f"bad PNG filter {kind}")
        previous = bytes(line)
        rows.append(previous)
    return rows
