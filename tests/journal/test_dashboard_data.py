"""The manager's dashboard figures over real SQLite and PostgreSQL journals of known calls."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.journal import dashboard_data as data
from ivr.journal.narrate import Narrator, NoWords
from ivr.journal.records import JournalRecord, RecordKind
from ivr.journal.rollup import DURATION_BOUNDS_S
from ivr.journal.store import JournalStore, ReportFilter, open_store
from ivr.journal.synthetic import CallScript, build_call

DAY1 = 1_717_200_000.0  # 2024-06-01 00:00 UTC
DAY2 = DAY1 + 86400.0
D1, D2 = date(2024, 6, 1), date(2024, 6, 2)


def scripts() -> list[CallScript]:
    """Day 2 (the period): 3 verified, 1 identified only, 1 not identified, 1 hung up; day 1
    (the previous period): 2 verified."""
    return [
        CallScript("v1", DAY2 + 3600, ani_found=True, verify=["verified"], customer_id="C1"),
        CallScript("v2", DAY2 + 7200, ani_found=True, verify=["verified"], ani="+447700900999"),
        CallScript("v3", DAY2 + 7300, account=["found"], verify=["verified"], service_line="cards"),
        CallScript("io", DAY2 + 7400, ani_found=True, verify=["dont_have"]),
        CallScript("ni", DAY2 + 7500, ani_presented=False, account=["not_found"] * 3),
        CallScript("hu", DAY2 + 7600, ani_found=True, verify=["wrong"], hangup=True),
        CallScript("p1", DAY1 + 3600, ani_found=True, verify=["verified"]),
        CallScript("p2", DAY1 + 3700, ani_found=True, verify=["verified"], step_seconds=100.0),
    ]


@pytest.fixture
async def journal(store_url: str) -> AsyncIterator[JournalStore]:
    store = await open_store(store_url)
    for s in scripts():
        await store.append(build_call(s))
    yield store
    await store.close()


async def test_headline_figures_and_change_against_the_previous_period(
    journal: JournalStore,
) -> None:
    h = await data.headline(journal, ReportFilter(from_day=D2, to_day=D2))
    assert h["period"] == {"from": "2024-06-02", "to": "2024-06-02"}
    assert h["previous_period"] == {"from": "2024-06-01", "to": "2024-06-01"}
    f = h["figures"]
    assert f["calls"] == 6
    assert f["verified"] == 3
    assert f["identified"] == 5  # verified + identified only (io, hu)
    assert f["idv_success_rate"] == pytest.approx(3 / 6)
    assert f["self_service"] == 3
    assert f["containment_rate"] == pytest.approx(3 / 6)
    assert f["to_agent"] == 2
    assert f["unverified_to_agent"] == 2
    assert f["hung_up"] == 1
    assert f["hung_up_rate"] == pytest.approx(1 / 6)
    assert h["previous"]["calls"] == 2
    assert h["change"]["calls"] == 4
    assert h["change"]["verified"] == 1
    # every call here lasts under a minute, the previous period's second near two
    assert f["p90_ivr_s"] is not None
    assert f["p90_ivr_s"] <= 60
    assert 90 <= h["previous"]["p90_ivr_s"] <= 120  # p2 lasts about 105 s


async def test_filters_narrow_the_figures(journal: JournalStore) -> None:
    cards = await data.figures(journal, ReportFilter(D2, D2, service_line="cards"))
    assert (cards.calls, cards.verified) == (1, 1)
    both = await data.figures(journal, ReportFilter(D1, D2))
    assert both.calls == 8


def test_period_defaults_to_today_and_the_previous_period_has_the_same_length() -> None:
    today = date(2026, 12, 3)
    assert data.Period.of(ReportFilter(), today) == data.Period(today, today)
    week = data.Period.of(ReportFilter(from_day=date(2026, 11, 27)), today)
    assert week.previous() == data.Period(date(2026, 11, 20), date(2026, 11, 26))
    assert len(week.days()) == 7


async def test_trend_has_every_day_of_the_period(journal: JournalStore) -> None:
    days = await data.trend(journal, ReportFilter(from_day=date(2024, 5, 31), to_day=D2))
    assert [d["day"] for d in days] == ["2024-05-31", "2024-06-01", "2024-06-02"]
    assert [d["calls"] for d in days] == [0, 2, 6]
    assert [d["verified"] for d in days] == [0, 2, 3]


async def test_losses_name_the_step_that_loses_most_callers(journal: JournalStore) -> None:
    rows = await data.losses(journal, ReportFilter(D2, D2))
    by_step = {r["step"]: r for r in rows}
    assert by_step["account_number"]["failed"] == 1  # ni: three unknown accounts
    assert by_step["date_of_birth"]["hung_up"] == 1  # hu hung up there
    assert by_step["date_of_birth"]["failed"] == 2  # io: "don't have it"; hu: wrong answers
    assert rows[0]["step"] == "date_of_birth"
    assert rows[0]["lost"] == 3
    assert rows[0]["lost_rate"] == pytest.approx(3 / by_step["date_of_birth"]["entered"])


async def test_recent_calls_page_search_and_filter(journal: JournalStore) -> None:
    period = ReportFilter(D2, D2)
    first = await data.recent_calls(journal, period, size=4)
    assert [c["call_id"] for c in first["calls"]] == ["hu", "ni", "io", "v3"]
    assert first["more"]
    second = await data.recent_calls(journal, period, size=4, page=2)
    assert [c["call_id"] for c in second["calls"]] == ["v2", "v1"]
    assert not second["more"]
    by_id = await data.recent_calls(journal, period, search="io")
    assert [c["call_id"] for c in by_id["calls"]] == ["io"]
    by_customer = await data.recent_calls(journal, period, search="C1")
    assert [c["call_id"] for c in by_customer["calls"]] == ["v1"]
    by_digits = await data.recent_calls(journal, period, search="0999")
    assert [c["call_id"] for c in by_digits["calls"]] == ["v2"]
    assert by_digits["calls"][0]["ani"] == "*********0999"
    hung = await data.recent_calls(journal, period, outcome="hung_up")
    assert [c["call_id"] for c in hung["calls"]] == ["hu"]
    ended_there = await data.recent_calls(journal, period, step="account_number")
    assert [c["call_id"] for c in ended_there["calls"]] == ["ni"]
    with pytest.raises(ValueError, match="outcome"):
        await data.recent_calls(journal, period, outcome="nonsense")


def _fault_call(call_id: str, at: float, kind: str) -> list[JournalRecord]:
    def rec(seq: int, k: RecordKind, **kw: object) -> JournalRecord:
        return JournalRecord(call_id, seq, at + seq, k, "idv", "1", "retail", **kw)  # type: ignore[arg-type]

    started = rec(0, RecordKind.CALL_STARTED, data={"service_line": "retail"})
    if kind == "limited":
        fault = rec(
            1,
            RecordKind.OPERATION,
            step="account_number",
            outcome="limited",
            data={"operation": "directory.lookup_by_account"},
        )
    elif kind == "directory":
        fault = rec(
            1,
            RecordKind.OPERATION,
            step="account_number",
            outcome="timeout",
            data={"operation": "directory.lookup_by_account"},
        )
    else:
        fault = rec(
            1,
            RecordKind.STEP_OUTCOME,
            step="date_of_birth",
            outcome="fallback",
            data={"reason": "response deadline"},
        )
    return [started, fault]


async def test_faults_by_cause_warn_over_the_threshold(store_url: str) -> None:
    store = await open_store(store_url)
    now = time.time()
    try:
        for i in range(6):
            await store.append(_fault_call(f"d{i}", now - 600, "directory"))
        await store.append(_fault_call("late", now - 300, "deadline"))
        await store.append(_fault_call("lim", now - 200, "limited"))
        await store.append(_fault_call("old", now - 7200, "directory"))  # outside the hour
        report = await data.faults(store, ReportFilter(), now=now)
    finally:
        await store.close()
    causes = {c["cause"]: c for c in report["causes"]}
    assert report["calls_started"] == 8
    assert causes["rate_limited"]["calls"] == 1
    assert causes["directory"]["calls"] == 6
    assert causes["directory"]["warning"]
    assert causes["deadline"]["calls"] == 1
    assert not causes["deadline"]["warning"]  # one call is under the minimum
    assert report["warning"]


async def test_the_journey_reads_as_sentences(journal: JournalStore) -> None:
    records = await journal.journey("hu")
    lines = Narrator(NoWords()).lines(records)
    texts = [line.text for line in lines]
    assert texts[0].startswith("Call started on the retail line from a number ending 0123")
    assert "The system looked the caller up by the number they called from: found one" in " ".join(
        texts
    )
    assert "Keyed 8 digits." in texts
    assert any("the answer did not match" in t for t in texts)
    assert "The caller hung up." in texts
    assert lines[0].offset_s == 0
    assert all(b.offset_s >= a.offset_s for a, b in zip(lines, lines[1:], strict=False))
    assert {line.actor for line in lines} == {"system", "caller", "decision"}


@given(st.lists(st.floats(min_value=0.1, max_value=2000), min_size=1, max_size=200))
def test_p90_from_buckets_lies_in_the_bucket_of_the_true_p90(durations: list[float]) -> None:
    counts = [sum(1 for d in durations if d <= bound) for bound in DURATION_BOUNDS_S]
    got = data.percentile_from_buckets(0.9, counts, len(durations), DURATION_BOUNDS_S)
    assert got is not None
    ordered = sorted(durations)
    true = ordered[max(0, -(-9 * len(ordered) // 10) - 1)]  # nearest-rank 90th percentile
    bounds = (0, *DURATION_BOUNDS_S)
    if true > DURATION_BOUNDS_S[-1]:
        assert got == DURATION_BOUNDS_S[-1]
    else:
        upper = next(b for b in DURATION_BOUNDS_S if true <= b)
        lower = bounds[bounds.index(upper) - 1]
        assert lower <= got <= upper
