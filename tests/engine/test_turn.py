"""A turn's journal records: every field where the journal expects it, numbered per call."""

from __future__ import annotations

from ivr.engine.state import CallState
from ivr.engine.turn import Turn
from ivr.journal.records import JournalRecord, RecordKind


def a_state() -> CallState:
    return CallState(
        call_id="c9",
        flow_id="idv",
        flow_version="7",
        service_line="retail",
        language="en-GB",
        ani=None,
        dnis=None,
        caller_id_trust="none",
        seq=4,
    )


def test_a_record_holds_each_field_where_the_journal_expects_it() -> None:
    state = a_state()
    turn = Turn(state, clock=lambda: 12.5)
    turn.record(
        RecordKind.OPERATION,
        step="by_ani",
        outcome="found",
        attempt=2,
        duration_ms=1.5,
        data={"operation": "directory.lookup_by_ani"},
    )
    turn.record(RecordKind.HANGUP)
    common = {
        "call_id": "c9",
        "at": 12.5,
        "flow_id": "idv",
        "flow_version": "7",
        "service_line": "retail",
    }
    assert turn.records == [
        JournalRecord(
            seq=4,
            kind=RecordKind.OPERATION,
            step="by_ani",
            outcome="found",
            attempt=2,
            duration_ms=1.5,
            data={"operation": "directory.lookup_by_ani"},
            **common,  # type: ignore[arg-type]
        ),
        JournalRecord(seq=5, kind=RecordKind.HANGUP, **common),  # type: ignore[arg-type]
    ]
    assert state.seq == 6


def test_records_without_data_do_not_share_one_dict() -> None:
    turn = Turn(a_state())
    turn.record(RecordKind.HANGUP)
    turn.record(RecordKind.CALL_ENDED)
    assert turn.records[0].data == {}
    assert turn.records[0].data is not turn.records[1].data
