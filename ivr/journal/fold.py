"""Fold a batch of journal records into per-call and per-step summary rows.

Reports read the `calls` and `step_daily` tables, never the raw records, so that a report over a
million calls scans a million narrow rows (or a few thousand daily rows) instead of twenty million
records. The writer folds each batch in Python and the store upserts the result: each call's row
is merged (counters added, first/last values kept) with what earlier batches wrote.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ivr.journal.records import JournalRecord, RecordKind, Row, as_row, mask_number

# Operation names that count as identification by ANI, by account number, and verification.
ANI_LOOKUPS: frozenset[str] = frozenset({"directory.lookup_by_ani"})
ACCOUNT_LOOKUPS: frozenset[str] = frozenset({"directory.lookup_by_account"})
VERIFICATIONS: frozenset[str] = frozenset({"verify.answer"})
ERROR_OUTCOMES: frozenset[str] = frozenset({"error", "timeout"})
ENTERED = ""  # step_daily.outcome for the "step entered" counter
HUNG_UP = "(hung up)"  # step_daily.outcome for callers who hung up in the step


def day_and_hour(at: float) -> tuple[str, int]:
    """UTC calendar day ('YYYY-MM-DD') and hour of a unix time: the reports' buckets."""
    return _hour_bucket(int(at // 3600))


@functools.lru_cache(maxsize=256)
def _hour_bucket(hours: int) -> tuple[str, int]:
    """Cached per hour since the epoch: fold asks once per record, a batch spans an hour or two."""
    t = time.gmtime(hours * 3600)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}", t.tm_hour


@dataclass(slots=True)
class CallRow:
    """One call's contribution from one batch. None means "this batch says nothing"."""

    call_id: str
    started_at: float | None = None
    day: str | None = None
    hour: int | None = None
    ended_at: float | None = None
    duration_ms: float | None = None
    service_line: str | None = None
    flow_id: str | None = None
    flow_version: str | None = None
    language: str | None = None
    dnis: str | None = None
    ani: str | None = None  # masked to its last digits, as in the record
    ani_presented: int | None = None
    ani_trust: str | None = None
    idv_status: str | None = None
    idv_at: float | None = None
    customer_id: str | None = None
    factors_passed: str | None = None  # the factors' names, ';'-separated ("" for none)
    locked: int | None = None
    route_kind: str | None = None
    route_name: str | None = None
    route_target: str | None = None
    ended_by: str | None = None
    hangup_by: str | None = None
    last_step: str | None = None
    last_at: float | None = None
    # flags merged with max(): once true, stays true
    ani_identified: int = 0
    account_identified: int = 0
    max_attempt: int = 0
    # counters merged by addition
    records: int = 0
    steps: int = 0
    inputs: int = 0
    no_inputs: int = 0
    dont_haves: int = 0
    invalid_inputs: int = 0
    id_attempts: int = 0
    verify_attempts: int = 0
    op_errors: int = 0


FIRST_WINS = ("started_at", "day", "hour")
MAX_MERGED = ("ani_identified", "account_identified", "max_attempt")
COUNTERS = (
    "records",
    "steps",
    "inputs",
    "no_inputs",
    "dont_haves",
    "invalid_inputs",
    "id_attempts",
    "verify_attempts",
    "op_errors",
)
CALL_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CallRow))


def call_upsert_sql(
    placeholders: list[str], greatest: str, columns: tuple[str, ...] = CALL_COLUMNS
) -> str:
    """INSERT ... ON CONFLICT for `calls`, portable between SQLite and PostgreSQL.

    `placeholders` are the value markers in `columns` order; `greatest` is MAX or GREATEST.
    """
    sets = []
    for col in columns[1:]:
        if col in FIRST_WINS:
            sets.append(f"{col} = COALESCE(calls.{col}, excluded.{col})")
        elif col in MAX_MERGED:
            sets.append(f"{col} = {greatest}(calls.{col}, excluded.{col})")
        elif col in COUNTERS:
            sets.append(f"{col} = calls.{col} + excluded.{col}")
        else:
            sets.append(f"{col} = COALESCE(excluded.{col}, calls.{col})")
    return (
        f"INSERT INTO calls ({', '.join(columns)}) VALUES ({', '.join(placeholders)}) "
        f"ON CONFLICT (call_id) DO UPDATE SET {', '.join(sets)}"
    )


StepKey = tuple[str, str, str, str, str, str]  # day, service_line, flow_id, version, step, outcome


@dataclass(slots=True)
class StepCount:
    n: int = 0
    duration_ms: float = 0.0
    timed: int = 0  # how many of n carried a duration


def _as_int(value: Any) -> int | None:
    return int(value) if isinstance(value, bool | int | float) else None


# Module constants: a record's kind is compared by value (==, so plain text works too), never
# by identity, and looked up once here rather than on the enum class per record.
_STEP_ENTERED = RecordKind.STEP_ENTERED
_STEP_OUTCOME = RecordKind.STEP_OUTCOME
_OPERATION = RecordKind.OPERATION
_INPUT = RecordKind.INPUT
_HANGUP = RecordKind.HANGUP


def _apply_rare(row: CallRow, kind: str, at: float, outcome: Any, duration: Any, data: Any) -> None:
    """The kinds a call has once or twice (start, ID&V status, route, hang-up, end)."""
    if kind == RecordKind.CALL_STARTED:
        row.started_at = at
        row.day, row.hour = day_and_hour(at)
        row.language = data.get("language")
        dnis = data.get("dnis")
        row.dnis = mask_number(dnis) if isinstance(dnis, str) else None
        ani = data.get("ani")
        row.ani = mask_number(ani) if isinstance(ani, str) else None
        row.ani_presented = _as_int(data.get("ani_presented"))
        trust = data.get("ani_trust")
        row.ani_trust = str(trust) if trust is not None else None
    elif kind == RecordKind.IDV_STATUS:
        row.idv_status = outcome
        row.idv_at = at
        customer = data.get("customer_id")
        row.customer_id = str(customer) if customer is not None else row.customer_id
        factors = data.get("factors_passed")
        if isinstance(factors, list):  # the engine's list of field names, as handed over
            row.factors_passed = ";".join(str(factor) for factor in factors)
        locked = data.get("locked")
        row.locked = int(locked) if isinstance(locked, bool) else row.locked
    elif kind == RecordKind.ROUTED:
        row.route_kind = outcome
        route, target = data.get("route"), data.get("target")
        row.route_name = str(route) if route is not None else None
        row.route_target = str(target) if target is not None else None
    elif kind == RecordKind.HANGUP:
        by = data.get("by")
        row.hangup_by = str(by) if by is not None else "caller"
    elif kind == RecordKind.CALL_ENDED:
        row.ended_at = at
        row.ended_by = outcome
        row.duration_ms = duration


def fold(records: Sequence[JournalRecord]) -> tuple[list[CallRow], dict[StepKey, StepCount]]:
    """Per-call rows and per-(day, step, outcome) counts for one batch, in arrival order."""
    return fold_rows([as_row(r) for r in records])


def fold_rows(rows: Iterable[Row]) -> tuple[list[CallRow], dict[StepKey, StepCount]]:
    """`fold` over records as rows (see `records.as_row`): what the journal worker receives.

    One loop with the frequent kinds (steps, operations, inputs: nine records in ten) inline;
    the worker runs it for every record, so a function call per record is worth avoiding.
    """
    calls: dict[str, CallRow] = {}
    steps: dict[StepKey, StepCount] = {}
    for call_id, _, at, kind, flow, version, line, step, outcome, attempt, ms, data in rows:
        row = calls.get(call_id)
        if row is None:
            row = calls[call_id] = CallRow(call_id)
            # A call whose CALL_STARTED was lost still gets a day, from its first record seen.
            row.started_at = at
            row.day, row.hour = day_and_hour(at)
        row.records += 1
        if line:
            row.service_line = line
        if flow:
            row.flow_id = flow
        if version:
            row.flow_version = version
        row.last_at = at
        if attempt and attempt > row.max_attempt:
            row.max_attempt = attempt
        if step:
            row.last_step = step
            if kind in (_STEP_ENTERED, _STEP_OUTCOME):
                # a step counts once, when its outcome arrives; entering only moves last_step
                entered = kind == _STEP_ENTERED
                if not entered:
                    row.steps += 1
                key = (
                    day_and_hour(at)[0],
                    line,
                    flow,
                    version,
                    step,
                    ENTERED if entered else (outcome or "?"),
                )
                count = steps.get(key)
                if count is None:
                    count = steps[key] = StepCount()
                count.n += 1
                if ms is not None and not entered:
                    count.duration_ms += ms
                    count.timed += 1
                continue
        elif kind == _STEP_OUTCOME:
            row.steps += 1
            continue
        if kind == _OPERATION:
            op = data.get("operation")
            if outcome in ERROR_OUTCOMES:
                row.op_errors += 1
            if op in ANI_LOOKUPS and outcome == "found":
                row.ani_identified = 1
            elif op in ACCOUNT_LOOKUPS:
                row.id_attempts += 1
                row.account_identified |= outcome == "found"
            elif op in VERIFICATIONS:
                row.verify_attempts += 1
        elif kind == _INPUT:
            row.inputs += 1
            what = data.get("kind")
            row.no_inputs += what == "no_input"
            row.dont_haves += what == "dont_have"
            row.invalid_inputs += what == "invalid"
        elif kind != _STEP_ENTERED:
            _apply_rare(row, kind, at, outcome, ms, data)
            if kind == _HANGUP and step and data.get("by", "caller") == "caller":
                # where callers leave: the flow view and the dashboard count it per step
                key = (day_and_hour(at)[0], line, flow, version, step, HUNG_UP)
                count = steps.get(key)
                if count is None:
                    count = steps[key] = StepCount()
                count.n += 1
    return list(calls.values()), steps


def call_values(row: CallRow, columns: tuple[str, ...] = CALL_COLUMNS) -> tuple[Any, ...]:
    return tuple(getattr(row, col) for col in columns)
