"""JournalHub: the live views stay right while doing O(1) work per record."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.journal.hub import SWEEP_SECONDS, JournalHub
from ivr.journal.records import JournalRecord, RecordKind
from ivr.journal.synthetic import CallScript, build_call

T0 = 1_717_200_000.0


def record(
    call_id: str, seq: int, at: float, kind: RecordKind, outcome: str | None = None
) -> JournalRecord:
    return JournalRecord(call_id, seq, at, kind, "idv", "1", "demo", outcome=outcome)


def test_pulse_counts_events_and_errors_per_second() -> None:
    hub = JournalHub()
    hub.publish(
        [
            record("a", 0, T0, RecordKind.CALL_STARTED),
            record("a", 1, T0 + 0.5, RecordKind.OPERATION, outcome="error"),
            record("a", 2, T0 + 1.2, RecordKind.STEP_OUTCOME, outcome="timeout"),
            record("a", 3, T0 + 1.3, RecordKind.ROUTED, outcome="error"),  # not an error kind
        ]
    )
    hub.publish([record("a", 4, T0 + 0.9, RecordKind.INPUT)])  # back to an earlier second
    assert hub.pulse(3, now=T0 + 1) == [(int(T0) - 1, 0, 0), (int(T0), 3, 1), (int(T0) + 1, 2, 1)]
    assert (hub.events, hub.errors) == (5, 2)


def test_active_view_follows_each_call_until_it_ends() -> None:
    hub = JournalHub()
    records = build_call(CallScript("c1", T0, ani_found=True, verify=["verified"]))
    hub.publish(records[:-1])
    (call,) = hub.active()
    assert call.summary()["call_id"] == "c1"
    assert call.last_kind == str(records[-2].kind)
    assert call.idv_status is not None
    assert hub.journey("c1") == records[:-1]
    hub.publish(records[-1:])
    assert hub.active() == []
    assert hub.journey("c1") is None


def test_subscribers_get_every_record_in_order_and_none_are_needed() -> None:
    hub = JournalHub()
    records = build_call(CallScript("c1", T0, ani_found=True))
    hub.publish(iter(records[:2]))  # nobody listening: only the views are updated
    sub = hub.subscribe()
    hub.publish(iter(records[2:]))  # a generator is read once, for the views and the fan-out
    got = [sub._queue.get_nowait() for _ in range(sub._queue.qsize())]
    assert got == records[2:]
    assert hub.events == len(records)


def test_calls_gone_quiet_are_swept() -> None:
    hub = JournalHub(stale_after=10)
    hub.publish([record("old", 0, T0, RecordKind.CALL_STARTED)])
    hub.publish([record("new", 0, T0 + 5, RecordKind.CALL_STARTED)])
    assert {c.call_id for c in hub.active()} == {"old", "new"}
    hub.publish([record("new", 1, T0 + SWEEP_SECONDS + 5, RecordKind.INPUT)])
    assert [c.call_id for c in hub.active()] == ["new"]


def _views_record_by_record(records: list[JournalRecord]) -> dict[str, object]:
    """The views as the hub defines them, computed the plain way (one record at a time)."""
    active: dict[str, dict[str, object]] = {}
    pulse: dict[int, list[int]] = {}
    for r in records:
        counts = pulse.setdefault(int(r.at), [0, 0])
        counts[0] += 1
        if r.outcome in ("error", "timeout") and r.kind in (
            RecordKind.OPERATION,
            RecordKind.STEP_OUTCOME,
        ):
            counts[1] += 1
        if r.kind is RecordKind.CALL_ENDED:
            active.pop(r.call_id, None)
            continue
        call = active.setdefault(
            r.call_id, {"call_id": r.call_id, "started_at": r.at, "step": None, "idv": None}
        )
        call["step"] = r.step or call["step"]
        if r.kind is RecordKind.IDV_STATUS:
            call["idv"] = r.outcome
        call["last"] = (r.kind, r.at)
        call.setdefault("records", []).append(r)  # type: ignore[attr-defined]
    return {"active": active, "pulse": pulse}


def test_runs_of_one_call_give_the_views_of_a_record_by_record_walk() -> None:
    calls = [
        build_call(CallScript(f"c{i}", T0 + i * 0.37, ani_found=i % 2 == 0, verify=["verified"]))
        for i in range(8)
    ]
    turns = [call[start : start + 3] for call in calls for start in range(0, len(call), 3)]
    turns.insert(5, [calls[7][0], calls[6][0], calls[7][1]])  # calls interleaved in one list
    turns.append([record("e", 0, T0 + 8, RecordKind.OPERATION, outcome="error")])
    turns.append([record("e", 1, T0 + 8.5, RecordKind.STEP_OUTCOME, outcome="timeout")])
    hub = JournalHub()
    for turn in turns:
        hub.publish(turn)
    expected = _views_record_by_record([r for turn in turns for r in turn])
    got = {
        c.call_id: {
            "call_id": c.call_id,
            "started_at": c.started_at,
            "step": c.step,
            "idv": c.idv_status,
            "last": (c.last_kind, c.last_at),
            "records": list(c.records),
        }
        for c in hub.active()
    }
    assert got == expected["active"]
    pulse = expected["pulse"]
    assert isinstance(pulse, dict)
    assert [p for p in hub.pulse(120, now=max(pulse)) if p[1]] == [
        (s, *pulse[s]) for s in sorted(pulse)
    ]
    assert hub.errors == 2
    assert got  # some calls are still in progress


def test_records_from_other_processes_join_the_same_views() -> None:
    """`receive` (the live bus) builds the views `publish` builds, and is not forwarded again."""
    hub = JournalHub()
    forwarded: list[list[JournalRecord]] = []
    hub.forward = forwarded.append
    sub = hub.subscribe()
    records = build_call(CallScript("c1", T0, ani_found=True, verify=["verified"]))
    hub.publish(records[:2])
    hub.receive(records[2:-1])
    (call,) = hub.active()
    assert call.last_seq == records[-2].seq
    assert call.step == next(r.step for r in reversed(records[:-1]) if r.step)
    assert hub.journey("c1") == records[:-1]
    assert forwarded == [records[:2]]
    assert hub.events == len(records) - 1
    hub.receive(records[-1:])
    assert hub.active() == []
    got = []
    while not sub._queue.empty():
        got.append(sub._queue.get_nowait())
    assert got == records


def test_a_late_record_from_another_process_changes_nothing_newer() -> None:
    """Records of a call may cross the bus after the next event's were produced here."""
    hub = JournalHub()
    older = [
        JournalRecord("c1", 0, T0, RecordKind.CALL_STARTED, "idv", "1", "demo"),
        JournalRecord("c1", 1, T0 + 1, RecordKind.STEP_ENTERED, "idv", "1", "demo", step="ani"),
    ]
    newer = JournalRecord("c1", 2, T0 + 2, RecordKind.STEP_ENTERED, "idv", "1", "demo", step="dob")
    hub.publish([newer])
    hub.receive(older)
    (call,) = hub.active()
    assert (call.step, call.last_seq, call.last_at, call.started_at) == ("dob", 2, T0 + 2, T0)
    assert [r.seq for r in hub.journey("c1") or []] == [0, 1, 2]


def test_a_record_arriving_after_its_call_ended_does_not_revive_it() -> None:
    hub = JournalHub()
    records = build_call(CallScript("c1", T0, ani_found=True, verify=["verified"]))
    hub.publish([records[0], records[-1]])  # started, ended
    hub.receive(records[1:-1])  # the middle of the call, late, from another worker
    assert hub.active() == []
    assert hub.events == len(records)  # still counted in the pulse: they happened


def _view(hub: JournalHub) -> list[tuple[object, ...]]:
    return [
        (c.call_id, c.started_at, c.step, c.idv_status, c.last_kind, c.last_at, c.last_seq)
        + (c.step_seq, c.idv_seq)
        for c in hub.active()
    ]


@settings(max_examples=300, deadline=None)
@given(st.data(), st.booleans(), st.booleans())
def test_records_from_the_bus_in_any_order_give_the_in_order_views(
    data: st.DataObject, ani_found: bool, ended: bool
) -> None:
    """A call's webhooks go to this worker or another; the other's records cross the bus some
    time after it made them, in any order among themselves and with this worker's later ones.
    Whatever the interleaving, the views end as if every record had come in order: the same
    step, status, latest record, journey and pulse, and an ended call stays ended."""
    records = build_call(CallScript("c1", T0, ani_found=ani_found, verify=["failed", "verified"]))
    if not ended:
        records = records[:-1]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(records) - 1), max_size=6), label="cuts"))
    segments = [records[a:b] for a, b in zip([0, *cuts], [*cuts, len(records)], strict=True)]
    hub = JournalHub()
    crossing: list[JournalRecord] = []  # made by the other worker, not yet delivered here
    for segment in segments:
        if data.draw(st.booleans(), label="answered here"):
            hub.publish(segment)
        else:
            crossing += segment
        arrived = data.draw(st.integers(0, len(crossing)), label="arrive now")
        crossing = data.draw(st.permutations(crossing), label="crossing order")
        hub.receive(crossing[:arrived])
        crossing = crossing[arrived:]
    hub.receive(crossing)
    in_order = JournalHub()
    in_order.publish(records)
    assert _view(hub) == _view(in_order)
    if not ended:
        assert hub.journey("c1") == records
    assert (hub.events, hub.errors) == (in_order.events, in_order.errors)
