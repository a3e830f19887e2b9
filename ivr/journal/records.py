"""Journal records: one per thing that happened in a call, with a timestamp.

The engine produces them; stores (SQLite, PostgreSQL) persist them off the request path.
A record never holds a collected secret: only its length and the outcome. Account and phone
numbers are masked to their last digits before they reach a record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol


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


@dataclass(frozen=True, slots=True)
class JournalRecord:
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


def scrub_record(record: JournalRecord) -> tuple[JournalRecord, int]:
    """The record as a store may keep it (see `scrub_data`); the same object when already clean."""
    if not record.data:
        return record, 0
    clean, dropped = scrub_data(record.data)
    if not dropped and clean == record.data:
        return record, 0
    return replace(record, data=clean), dropped


# Built once: json.dumps() with options builds a new encoder per call, a cost paid per record.
_encode_data = json.JSONEncoder(separators=(",", ":"), default=str).encode


def data_json(data: dict[str, Any]) -> str | None:
    """A record's `data` as stores keep it: compact JSON, None when empty."""
    return _encode_data(data) if data else None
