"""Each report's numbers on six hand-built calls (tests/journal/known_calls.py), on both stores."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ivr.journal.reports import REPORTS, run_report
from ivr.journal.store import JournalStore, ReportFilter
from ivr.journal.table import Table, render
from tests.journal.known_calls import known_records

ALL = ReportFilter()


@pytest.fixture
async def loaded(store: JournalStore) -> JournalStore:
    records = known_records()
    for i in range(0, len(records), 7):  # awkward batch size: calls straddle batches
        await store.append(records[i : i + 7])
    return store


def metrics(table: Table) -> dict[str, tuple[object, object]]:
    return {row[0]: (row[1], row[2]) for row in table.rows}


async def test_summary(loaded: JournalStore) -> None:
    m = metrics(await run_report(loaded, "summary", ALL))
    assert m["calls"][0] == 6
    assert m["ended"][0] == 6
    assert m["routed"][0] == 5
    assert m["hung up"][0] == 1
    assert m["routed to an agent"][0] == 3
    assert m["routed to self-service"][0] == 2
    assert m["identified and verified"] == (3, 0.5)
    assert m["identified only"][0] == 2
    assert m["not identified"][0] == 1


async def test_calls_per_day(loaded: JournalStore) -> None:
    t = await run_report(loaded, "calls-per-day", ALL)
    assert [r[:8] for r in t.rows] == [
        ("2024-06-01", 5, 2, 2, 1, 3, 2, 0),
        ("2024-06-02", 1, 1, 0, 0, 0, 0, 1),
    ]


async def test_calls_by_hour(loaded: JournalStore) -> None:
    t = await run_report(loaded, "calls-by-hour", ALL)
    assert len(t.rows) == 24
    assert {r[0]: r[1] for r in t.rows if r[1]} == {"08:00": 1, "09:00": 2, "10:00": 2, "14:00": 1}


async def test_steps(loaded: JournalStore) -> None:
    t = await run_report(loaded, "steps", ALL)
    got = {(r[2], r[4]): (r[3], r[5]) for r in t.rows}  # (step, outcome) -> (entries, count)
    assert got == {
        ("welcome", "next"): (6, 6),
        ("by_ani", "found"): (4, 3),
        ("by_ani", "not_found"): (4, 1),
        ("account_number", "found"): (4, 2),
        ("account_number", "dont_have"): (4, 1),
        ("date_of_birth", "verified"): (8, 3),
        ("date_of_birth", "dont_have"): (8, 1),
        ("date_of_birth", "max_attempts"): (8, 1),
        ("date_of_birth", "(hung up)"): (8, 1),  # the caller who hung up was in it
    }
    shares = {(r[2], r[4]): r[6] for r in t.rows}
    assert shares[("by_ani", "found")] == pytest.approx(0.75)
    assert t.rows[0][2] == "date_of_birth"  # most entered first


async def test_recognition(loaded: JournalStore) -> None:
    m = metrics(await run_report(loaded, "recognition", ALL))
    assert m["ANI presented"] == (4, pytest.approx(4 / 6))
    assert m["identified by ANI (of presented)"] == (3, 0.75)
    assert m["identified by account number"][0] == 2
    assert m["identified and verified"][0] == 3
    assert m["identified only"][0] == 2
    assert m["not identified"][0] == 1
    assert m['answered "don\'t have"'][0] == 2
    assert m["mean account number attempts"][0] == pytest.approx(1.5)
    assert m["mean verification attempts"][0] == pytest.approx(1.75)
    # A and F: 3 s welcome + 0.05 ANI + 4.05 verify = 7.1 s; B: 3 + .05 + 8.1 + 8.1 = 19.25 s
    assert m["mean time to ID&V (s)"][0] == pytest.approx((7.1 + 7.1 + 19.25) / 3)


async def test_tasks(loaded: JournalStore) -> None:
    t = await run_report(loaded, "tasks", ALL)
    assert {(r[0], r[1]): r[2] for r in t.rows} == {
        ("agent", "agent_queue"): 3,
        ("self_service", "payments"): 2,
        ("(hung up)", "-"): 1,
    }
    assert t.rows[0][:4] == ("agent", "agent_queue", 3, 0.5)


async def test_filters(loaded: JournalStore) -> None:
    cards = metrics(await run_report(loaded, "summary", ReportFilter(service_line="cards")))
    assert cards["calls"][0] == 1
    assert cards["identified only"][0] == 1
    day2 = metrics(await run_report(loaded, "recognition", ReportFilter(from_day=date(2024, 6, 2))))
    assert day2["calls"][0] == 1
    day1 = await run_report(loaded, "calls-per-day", ReportFilter(to_day=date(2024, 6, 1)))
    assert [r[0] for r in day1.rows] == ["2024-06-01"]
    none = metrics(await run_report(loaded, "summary", ReportFilter(flow="other")))
    assert none["calls"][0] == 0
    steps_d2 = await run_report(loaded, "steps", ReportFilter(from_day=date(2024, 6, 2)))
    assert {r[2] for r in steps_d2.rows} == {"welcome", "by_ani", "date_of_birth"}


async def test_every_report_renders_in_every_format(loaded: JournalStore) -> None:
    for name in REPORTS:
        t = await run_report(loaded, name, ALL)
        text = render(t, "table")
        lines = text.splitlines()
        assert len({len(line) for line in lines[1:3]}) == 1  # header and rule aligned
        assert render(t, "csv").splitlines()[0] == ",".join(c.name for c in t.columns)
        assert len(json.loads(render(t, "json"))["rows"]) == len(t.rows)


async def test_empty_journal(store: JournalStore) -> None:
    for name in REPORTS:
        t = await run_report(store, name, ALL)
        assert render(t, "table")


async def test_unknown_report(store: JournalStore) -> None:
    with pytest.raises(KeyError):
        await run_report(store, "nope", ALL)
