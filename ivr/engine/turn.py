"""A turn: the engine's answer to one event, and the journal records that go with it.

Records are numbered per call (`seq`) and stamped with the engine's clock; collected digits
never reach one (an input record holds only their length).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.engine.actions import Action
from ivr.engine.state import CallState
from ivr.journal.records import JournalRecord, RecordKind


@dataclass(slots=True)
class Turn:
    """What the gateway must do now, and what to journal, for one event of one call."""

    state: CallState
    actions: list[Action] = field(default_factory=list)
    records: list[JournalRecord] = field(default_factory=list)
    clock: Callable[[], float] = time.time

    def record(
        self,
        kind: RecordKind,
        step: str | None = None,
        outcome: str | None = None,
        attempt: int | None = None,
        duration_ms: float | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Append the next record of the call. Fields are passed by position: a record is built
        several times per event, and keywords cost a fifth more than the frozen class itself."""
        state = self.state
        self.records.append(
            JournalRecord(
                state.call_id,
                state.seq,
                self.clock(),
                kind,
                state.flow_id,
                state.flow_version,
                state.service_line,
                step,
                outcome,
                attempt,
                duration_ms,
                {} if data is None else data,
            )
        )
        state.seq += 1

    def step_outcome(self, step_id: str, outcome: str, attempt: int | None = None) -> None:
        """A step's outcome, with the time spent in it."""
        elapsed = (self.clock() - self.state.step_started_at) * 1000
        self.record(
            RecordKind.STEP_OUTCOME,
            step=step_id,
            outcome=outcome,
            attempt=attempt,
            duration_ms=round(elapsed, 3),
        )

    def status(self) -> None:
        state = self.state
        self.record(
            RecordKind.IDV_STATUS,
            outcome=state.idv_status,
            data={
                "customer_id": state.customer_id,
                "factors_passed": list(state.factors_passed),
                "locked": state.locked,
            },
        )

    def ended(self) -> None:
        state = self.state
        state.payment = None  # an ended call keeps no card entry, not even sealed
        self.record(
            RecordKind.CALL_ENDED,
            outcome=state.ended_by,
            duration_ms=round((self.clock() - state.started_at) * 1000, 3),
        )
