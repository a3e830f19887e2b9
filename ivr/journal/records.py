"""Journal records: one per thing that happened in a call, with a timestamp.

The engine produces them; stores (SQLite, PostgreSQL) persist them off the request path.
A record never holds a collected secret: only its length and the outcome. Account and phone
numbers are masked to their last digits before they reach a record.
"""

from __future__ import annotations

import json
import json.encoder
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Protocol

import orjson


class RecordKind(StrEnum):
    CALL_STARTED = "call_started"  # data: service_line, dnis, ani_presented, ani_trust, language
    STEP_ENTERED = "step_entered"  # step, attempt
    INPUT = "input"  # step, attempt, data: kind (digits|no_input|dont_have|invalid), length
    OPERATION = "operation"  # step, outcome, duration_ms, data: operation, detail
    STEP_OUTCOME = "step_outcome"  # step, outcome, attempt, duration_ms (time in the step)
    IDV_STATUS = "idv_status"  # outcome = status; data: customer_id, factors_passed
    ROUTED = "routed"  # outcome = route kind; data: route, target
    HANGUP = "hangup"  # data: by (caller|flow)
    CALL_ENDED = "call_ended"  # outcome = route|hangup; duration_ms = whole call


@dataclass(slots=True)
class JournalRecord:
    """One thing that happened in a call. Not frozen: a frozen dataclass pays object.__setattr__
    per field on every construction, and the engine builds several per webhook (`python -m
    bench.micro --only records` prints both); nothing changes a record once built, nor hashes
    one."""

    call_id: str
    seq: int  # order within the call, from 0
    at: float  # unix time, seconds
    kind: RecordKind
    flow_id: str
    flow_version: str
    service_line: str
    step: str | None = None
    outcome: str | None = None
    attempt: int | None = None
    duration_ms: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


# A record as a plain tuple, in field order (kind still a RecordKind, which is a str): what the
# engine pickles to the journal worker, and what stores scrub, fold and insert without building
# a frozen dataclass per record.
Row = tuple[Any, ...]
RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(JournalRecord))
KIND, DATA = RECORD_FIELDS.index("kind"), RECORD_FIELDS.index("data")
as_row: Callable[[JournalRecord], Row] = operator.attrgetter(*RECORD_FIELDS)  # C, no Python frame


class JournalSink(Protocol):
    """Where the engine hands records; must not block the event loop (queue and return)."""

    def write(self, records: list[JournalRecord]) -> None: ...


def mask_number(value: str | None, keep: int = 4) -> str | None:
    """'+447700900123' -> '*********0123': enough to recognise, not enough to use."""
    if value is None:
        return None
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


# Keys a record's `data` must never carry: a collected secret or the raw digits of an input.
# Stores strip them (and count it) rather than fail the call; the engine should never send them.
SECRET_DATA_KEYS: frozenset[str] = frozenset(
    {"digits", "answer", "pin", "otp", "passcode", "password", "secret", "card_number", "cvv"}
)
# Keys holding phone or account numbers: masked to their last digits wherever they appear.
NUMBER_DATA_KEYS: frozenset[str] = frozenset(
    {"ani", "dnis", "account", "account_number", "phone", "phone_number", "msisdn"}
)


def scrub_data(data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Return `data` without secret keys and with numbers masked, and how many keys were dropped.

    Nested dictionaries are scrubbed too, so a secret cannot hide one level down.
    """
    clean: dict[str, Any] = {}
    dropped = 0
    for key, value in data.items():
        lowered = key.lower()
        if lowered in SECRET_DATA_KEYS:
            dropped += 1
            continue
        if isinstance(value, dict):
            value, inner = scrub_data(value)
            dropped += inner
        elif lowered in NUMBER_DATA_KEYS and isinstance(value, str):
            value = mask_number(value)
        clean[key] = value
    return clean, dropped


_PLAIN_KEYS: dict[tuple[str, ...], bool] = {}  # data key sets seen, and whether none is sensitive


def _plain(keys: tuple[str, ...]) -> bool:
    plain = _PLAIN_KEYS.get(keys)
    if plain is None:
        plain = not any(
            k.lower() in SECRET_DATA_KEYS or k.lower() in NUMBER_DATA_KEYS for k in keys
        )
        if len(_PLAIN_KEYS) < 4096:  # the engine uses a handful of shapes; never grow unbounded
            _PLAIN_KEYS[keys] = plain
    return plain


def scrub_if_needed(data: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """`scrub_data`, but `data` itself (no copy) when no key could need stripping or masking.

    Most records' data has the same few keys (operation, detail, route...): whether a key set is
    sensitive is decided once, so only data that may hold a secret or a number pays for a copy.
    """
    if _plain(tuple(data)):
        for value in data.values():
            if isinstance(value, dict):
                break  # a nested dict could hide a secret: scrub the lot
        else:
            return data, 0
    clean, dropped = scrub_data(data)
    return (data, 0) if not dropped and clean == data else (clean, dropped)


def scrub_row(row: Row) -> tuple[Row, int]:
    """`scrub_record` for a row: the same tuple when already clean."""
    data = row[DATA]
    if not data:
        return row, 0
    clean, dropped = scrub_if_needed(data)
    return (row if clean is data else (*row[:DATA], clean)), dropped


def scrub_record(record: JournalRecord) -> tuple[JournalRecord, int]:
    """The record as a store may keep it (see `scrub_data`); the same object when already clean."""
    if not record.data:
        return record, 0
    clean, dropped = scrub_data(record.data)
    if not dropped and clean == record.data:
        return record, 0
    return replace(record, data=clean), dropped


# Built once: json.dumps() with options builds a new encoder per call, a cost paid per record,
# and JSONEncoder.encode() still builds its C encoder on every call; keep one C encoder (same
# output: ASCII, compact separators, str() for other objects, no circular-reference check).
_encode_data = json.JSONEncoder(separators=(",", ":"), default=str).encode
_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encoder: Callable[[Any, int], list[str]] | None = (
    _make_c_encoder(
        None, str, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    if _make_c_encoder is not None
    else None
)


def json_text(value: Any) -> str:
    """Compact ASCII JSON of any value (str() for other objects), with the encoder built once."""
    if _c_encoder is not None:
        return "".join(_c_encoder(value, 0))
    return _encode_data(value)


def data_json(data: dict[str, Any]) -> str | None:
    """A record's `data` as stores keep it: compact JSON, None when empty."""
    if not data:
        return None
    if _c_encoder is not None:
        return "".join(_c_encoder(data, 0))
    return _encode_data(data)


# -- stored chunks ------------------------------------------------------------------------------
# The store keeps a call's records from one batch as one row of `record_chunks` (call_id, first
# seq, earliest and latest time, count, body), the body a JSON array of the records without their
# call id: [seq, at, kind, flow_id, flow_version, service_line, step, outcome, attempt,
# duration_ms, data]. A per-record row costs each store three B-tree inserts, a row header and
# its WAL, and a call has many records: one row per call and batch divides that cost among them
# (`python -m bench.journal_throughput` prints records stored per second). The `records` view
# reads the chunks back as one row per record, with the columns the records table had.
Chunk = tuple[str, int, float, float, int, str]
_BODY_FIELDS = slice(1, None)


def body_json(rows: Sequence[Row]) -> str:
    """A chunk's body: the rows without their call id, as compact JSON (floats exact)."""
    body = [row[_BODY_FIELDS] for row in rows]
    try:
        return orjson.dumps(body, default=str).decode()
    except TypeError:  # a key that is not a string, an integer beyond 64 bits...
        return json_text([json.loads(json_text(item)) for item in body])


def chunk_rows(batches: Iterable[Sequence[Row]]) -> list[Chunk]:
    """Each call's records within each batch as one chunk, in the order the calls appear.

    Chunks follow batch boundaries, never a regrouping of them: a batch that is sent again (the
    worker died before acknowledging it) gives the same chunks, which the store then ignores.
    """
    chunks: list[Chunk] = []
    for rows in batches:
        by_call: dict[str, list[Row]] = {}
        for row in rows:
            same = by_call.get(row[0])
            if same is None:
                by_call[row[0]] = [row]
            else:
                same.append(row)
        for call_id, same in by_call.items():
            ats = [row[2] for row in same]
            chunks.append((call_id, same[0][1], min(ats), max(ats), len(same), body_json(same)))
    return chunks
