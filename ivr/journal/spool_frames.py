"""The journal spool's on-disk frames: one per batch, JSON rows behind a checked header.

A frame is a marker, the payload's length, its record count and a CRC-32 of those and the
payload, then the rows as a JSON array. JSON, not pickle: a spool file is read back from local
disk, possibly by a later worker, and reading it must never run code whatever the file holds.
The marker lets a reader step over a damaged frame (a torn tail after a crash, a flipped
byte) and find the next intact one: damaged bytes are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ivr.journal.records import DATA, KIND, RECORD_FIELDS, RecordKind, Row, json_text

MARK = b"IVS1"  # a frame of this format starts here
HEAD = struct.Struct("!4sIII")  # marker, payload length, record count, CRC-32
_SIZES = struct.Struct("!II")
_KINDS = {kind.value: kind for kind in RecordKind}


class BadFrame(ValueError):
    """A frame whose rows are not journal rows (its checksum may still match)."""


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    size: int
    records: int


def _checksum(length: int, records: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(_SIZES.pack(length, records)))


def _rows_json(rows: Sequence[Row]) -> bytes:
    try:
        return orjson.dumps(list(rows), default=str)
    except TypeError:  # a key that is not a string, an integer beyond 64 bits...
        return json_text([json.loads(json_text(row)) for row in rows]).encode()


def encode(rows: Sequence[Row]) -> bytes:
    """One frame holding `rows`."""
    payload = _rows_json(rows)
    head = HEAD.pack(MARK, len(payload), len(rows), _checksum(len(payload), len(rows), payload))
    return head + payload


def _row(item: Any) -> Row:
    if not isinstance(item, list) or len(item) != len(RECORD_FIELDS):
        raise BadFrame("not a journal row")
    call_id, seq, at, kind = item[0], item[1], item[2], item[KIND]
    if not isinstance(call_id, str) or not isinstance(seq, int) or isinstance(seq, bool):
        raise BadFrame("bad call id or sequence")
    if not isinstance(at, int | float) or kind not in _KINDS:
        raise BadFrame("bad time or kind")
    if not isinstance(item[DATA], dict):
        raise BadFrame("bad data")
    item[KIND] = _KINDS[kind]
    return tuple(item)


def decode(frame: bytes) -> list[Row]:
    """The rows of a frame written by `encode` (checksum and row shapes checked)."""
    if len(frame) < HEAD.size:
        raise BadFrame("short frame")
    mark, length, records, crc = HEAD.unpack_from(frame)
    payload = frame[HEAD.size : HEAD.size + length]
    if mark != MARK or len(payload) != length or _checksum(length, records, payload) != crc:
        raise BadFrame("checksum")
    try:
        items = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise BadFrame("not JSON") from error
    if not isinstance(items, list) or len(items) != records:
        raise BadFrame("record count")
    return [_row(item) for item in items]


def scan(data: bytes, base: int = 0) -> tuple[list[Frame], int]:
    """The intact frames in `data` (offsets from `base`) and the bytes of damaged ones skipped.

    After a damaged frame the scan goes on at the next marker, so one bad frame costs only
    itself; anything that does not decode is damaged, including files of an older format.
    """
    frames: list[Frame] = []
    damaged = 0
    at = 0
    while at < len(data):
        size = _intact(data, at)
        if size:
            frames.append(Frame(base + at, size, HEAD.unpack_from(data, at)[2]))
            at += size
            continue
        following = data.find(MARK, at + 1)
        following = len(data) if following < 0 else following
        damaged += following - at
        at = following
    return frames, damaged


def _intact(data: bytes, at: int) -> int:
    """The size of the intact frame at `at`, or 0."""
    if at + HEAD.size > len(data) or data[at : at + len(MARK)] != MARK:
        return 0
    length: int = HEAD.unpack_from(data, at)[1]
    end = at + HEAD.size + length
    if end > len(data):
        return 0
    try:
        decode(data[at:end])
    except BadFrame:
        return 0
    return end - at
