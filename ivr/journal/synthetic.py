"""Synthetic ID&V call journeys, shaped like the demo flow's (flows/idv.yaml).

Tests build calls with known answers from explicit scripts; the benchmarks draw millions of
random ones. Records follow what the engine emits: CALL_STARTED first, STEP_ENTERED / INPUT /
OPERATION / STEP_OUTCOME per step, IDV_STATUS, ROUTED or HANGUP, CALL_ENDED last.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ivr.journal.records import JournalRecord, RecordKind, mask_number

MAX_ATTEMPTS = 3


@dataclass
class CallScript:
    """What happens in one call. `account`/`verify` list each attempt's result:
    found|not_found|dont_have|no_input, and verified|wrong|dont_have|no_input|locked."""

    call_id: str
    start: float
    service_line: str = "retail"
    flow: str = "idv"
    version: str = "1"
    ani_presented: bool = True
    ani_found: bool = False
    account: list[str] = field(default_factory=list)
    verify: list[str] = field(default_factory=list)
    hangup: bool = False  # hang up after the ID&V status instead of being routed
    ani: str | None = "+447700900123"  # the calling number, when presented
    customer_id: str = "C1001"
    step_seconds: float = 4.0


class _Builder:
    def __init__(self, s: CallScript) -> None:
        self.s = s
        self.at = s.start
        self.records: list[JournalRecord] = []

    def add(self, kind: RecordKind, **kw: Any) -> None:
        s = self.s
        self.records.append(
            JournalRecord(
                s.call_id, len(self.records), self.at, kind, s.flow, s.version, s.service_line, **kw
            )
        )

    def tick(self, seconds: float) -> None:
        self.at += seconds

    def ask(self, step: str, operation: str, tries: list[str], done: set[str]) -> str:
        """An ask step with retries; returns its outcome."""
        began = self.at
        outcome = "max_attempts"
        for attempt, result in enumerate(tries[:MAX_ATTEMPTS], start=1):
            self.add(RecordKind.STEP_ENTERED, step=step, attempt=attempt)
            self.tick(self.s.step_seconds)
            if result in ("dont_have", "no_input"):
                self.add(RecordKind.INPUT, step=step, attempt=attempt, data={"kind": result})
                if result == "dont_have":
                    outcome = "dont_have"
                    break
                continue
            self.add(
                RecordKind.INPUT, step=step, attempt=attempt, data={"kind": "digits", "length": 8}
            )
            self.add(
                RecordKind.OPERATION,
                step=step,
                outcome=result,
                attempt=attempt,
                duration_ms=35.0,
                data={"operation": operation, "detail": ""},
            )
            self.tick(0.05)
            if result in done:
                outcome = result
                break
        self.add(
            RecordKind.STEP_OUTCOME,
            step=step,
            outcome=outcome,
            attempt=min(len(tries), MAX_ATTEMPTS),
            duration_ms=(self.at - began) * 1000,
        )
        return outcome


def build_call(s: CallScript) -> list[JournalRecord]:
    """The records of one call, in order."""
    b = _Builder(s)
    b.add(
        RecordKind.CALL_STARTED,
        data={
            "service_line": s.service_line,
            "dnis": "+441134960000",
            "ani_presented": s.ani_presented,
            "ani": mask_number(s.ani) if s.ani_presented else None,
            "ani_trust": "A" if s.ani_presented else "unknown",
            "language": "en-GB",
        },
    )
    b.add(RecordKind.STEP_ENTERED, step="welcome", attempt=1)
    b.tick(3.0)
    b.add(RecordKind.STEP_OUTCOME, step="welcome", outcome="next", attempt=1, duration_ms=3000.0)
    identified = False
    if s.ani_presented:
        b.add(RecordKind.STEP_ENTERED, step="by_ani", attempt=1)
        result = "found" if s.ani_found else "not_found"
        b.add(
            RecordKind.OPERATION,
            step="by_ani",
            outcome=result,
            attempt=1,
            duration_ms=20.0,
            data={"operation": "directory.lookup_by_ani", "detail": ""},
        )
        b.tick(0.05)
        b.add(RecordKind.STEP_OUTCOME, step="by_ani", outcome=result, attempt=1, duration_ms=50.0)
        identified = s.ani_found
    if not identified and s.account:
        found = b.ask("account_number", "directory.lookup_by_account", s.account, {"found"})
        identified = found == "found"
    verified = locked = False
    if identified and s.verify:
        verdict = b.ask("date_of_birth", "verify.answer", s.verify, {"verified", "locked"})
        verified = verdict == "verified"
        locked = verdict == "locked"
    status = (
        "identified_and_verified"
        if verified
        else ("identified_only" if identified else "not_identified")
    )
    b.add(
        RecordKind.IDV_STATUS,
        outcome=status,
        data={
            "customer_id": s.customer_id if identified else None,
            "factors_passed": ["date_of_birth"] if verified else [],  # as the engine writes
            "locked": locked,
        },
    )
    b.tick(2.0)
    if s.hangup:
        last = next((r.step for r in reversed(b.records) if r.step), None)
        b.add(RecordKind.HANGUP, step=last, data={"by": "caller"})
        ended = "hangup"
    else:
        kind, route = ("self_service", "payments") if verified else ("agent", "agent_queue")
        b.add(RecordKind.ROUTED, outcome=kind, data={"route": route, "target": f"queue:{route}"})
        ended = "route"
    b.add(RecordKind.CALL_ENDED, outcome=ended, duration_ms=(b.at - s.start) * 1000)
    return b.records


def random_script(rng: random.Random, call_id: str, start: float) -> CallScript:
    """A plausible call: most callers present a number, many are found by it, a few give up."""
    presented = rng.random() < 0.8
    ani_found = presented and rng.random() < 0.6
    account: list[str] = []
    if not ani_found:
        for _ in range(MAX_ATTEMPTS):
            r = rng.random()
            result = (
                "found"
                if r < 0.7
                else "dont_have"
                if r < 0.8
                else "no_input"
                if r < 0.85
                else "not_found"
            )
            account.append(result)
            if result in ("found", "dont_have"):
                break
    verify: list[str] = []
    for _ in range(MAX_ATTEMPTS):
        r = rng.random()
        result = "verified" if r < 0.8 else "dont_have" if r < 0.85 else "wrong"
        verify.append(result)
        if result != "wrong":
            break
    return CallScript(
        call_id=call_id,
        start=start,
        service_line=rng.choice(("retail", "retail", "business", "cards")),
        flow="idv",
        version=rng.choice(("1", "2")),
        ani_presented=presented,
        ani_found=ani_found,
        account=account,
        verify=verify,
        hangup=rng.random() < 0.05,
        step_seconds=rng.uniform(3.0, 9.0),
    )
