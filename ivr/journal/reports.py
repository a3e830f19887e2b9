"""Prebuilt reports over the `call_hourly` and `step_daily` rollups (see rollup.py, fold.py).

Each report is one portable SQL query (same text on SQLite and PostgreSQL) filtered by
`ReportFilter`, shaped into a `Table` in Python. Rates are ratios of calls; durations are seconds.
Means are computed from sums and counts so that they stay exact over any range of hours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ivr.callbacks import reports as callback_reports
from ivr.journal.store import JournalStore, ReportFilter
from ivr.journal.table import Column, Table


def sums(*columns: str) -> str:
    return ", ".join(f"SUM({c})" for c in columns)


def _mean(total: Any, count: Any) -> float | None:
    return float(total) / float(count) if count else None


def _ratio(part: Any, whole: Any) -> float | None:
    return (part or 0) / whole if whole else None


def _secs(ms: Any) -> float | None:
    return ms / 1000.0 if ms is not None else None


METRIC_COLUMNS = (Column("metric"), Column("value", "float"), Column("rate", "pct"))


SUMMARY_MEASURES = (
    "calls",
    "ended",
    "routed",
    "hung_up",
    "to_agent",
    "self_service",
    "verified",
    "identified_only",
    "not_identified",
    "op_error_calls",
    "duration_sum",
    "duration_n",
    "steps_sum",
)
RECOGNITION_MEASURES = (
    "calls",
    "ani_presented",
    "ani_identified",
    "account_identified",
    "verified",
    "identified_only",
    "not_identified",
    "no_status",
    "dont_have_calls",
    "no_input_calls",
    "id_attempts_sum",
    "id_attempt_calls",
    "verify_attempts_sum",
    "verify_attempt_calls",
    "idv_time_sum",
    "idv_time_n",
)


async def summary(store: JournalStore, flt: ReportFilter) -> Table:
    where, params = flt.calls_where()
    measures = sums(*SUMMARY_MEASURES)
    sql = f"SELECT {measures}, MIN(day), MAX(day) FROM call_hourly WHERE {where}"
    (row,) = await store.fetch(sql, params)
    calls, ended, routed, hung, agent, selfs, ver, ido, notid, errs, dur, dur_n, steps = row[:13]
    first, last = row[13:]
    calls = calls or 0
    t = Table("Summary", METRIC_COLUMNS)
    t.rows = [
        ("calls", calls, None),
        ("ended", ended or 0, _ratio(ended, calls)),
        ("in progress or lost", calls - (ended or 0), _ratio(calls - (ended or 0), calls)),
        ("routed", routed or 0, _ratio(routed, calls)),
        ("hung up", hung or 0, _ratio(hung, calls)),
        ("routed to an agent", agent or 0, _ratio(agent, calls)),
        ("routed to self-service", selfs or 0, _ratio(selfs, calls)),
        ("identified and verified", ver or 0, _ratio(ver, calls)),
        ("identified only", ido or 0, _ratio(ido, calls)),
        ("not identified", notid or 0, _ratio(notid, calls)),
        ("calls with operation errors", errs or 0, _ratio(errs, calls)),
        ("mean call duration (s)", _secs(_mean(dur, dur_n)), None),
        ("mean steps per call", _mean(steps, calls), None),
    ]
    t.title = f"Summary ({first or '-'} .. {last or '-'})"
    return t


PER_BUCKET = sums(
    "calls",
    "verified",
    "identified_only",
    "not_identified",
    "to_agent",
    "self_service",
    "hung_up",
    "duration_sum",
    "duration_n",
)
BUCKET_COLUMNS = (
    Column("calls", "int"),
    Column("verified", "int"),
    Column("identified_only", "int"),
    Column("not_identified", "int"),
    Column("to_agent", "int"),
    Column("self_service", "int"),
    Column("hung_up", "int"),
    Column("mean_duration_s", "float"),
)


def _bucket_row(key: Any, row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (key, *(int(v or 0) for v in row[:7]), _secs(_mean(row[7], row[8])))


async def calls_per_day(store: JournalStore, flt: ReportFilter) -> Table:
    where, params = flt.calls_where()
    rows = await store.fetch(
        f"SELECT day, {PER_BUCKET} FROM call_hourly WHERE {where} GROUP BY day"
        " HAVING SUM(calls) > 0 ORDER BY day",
        params,
    )
    return Table(
        "Calls per day (UTC)",
        (Column("day"), *BUCKET_COLUMNS),
        [_bucket_row(r[0], r[1:]) for r in rows],
    )


async def calls_by_hour(store: JournalStore, flt: ReportFilter) -> Table:
    where, params = flt.calls_where()
    rows = await store.fetch(
        f"SELECT hour, {PER_BUCKET} FROM call_hourly WHERE {where} GROUP BY hour", params
    )
    by_hour = {r[0]: r[1:] for r in rows}
    empty = (0, 0, 0, 0, 0, 0, 0, 0, 0)
    return Table(
        "Calls by hour of day (UTC)",
        (Column("hour"), *BUCKET_COLUMNS),
        [_bucket_row(f"{h:02d}:00", by_hour.get(h, empty)) for h in range(24)],
    )


async def steps(store: JournalStore, flt: ReportFilter) -> Table:
    """Block results: how often each step was entered and how each entry ended."""
    where, params = flt.calls_where()
    rows = await store.fetch(
        "SELECT flow_id, flow_version, step, outcome, SUM(n), SUM(duration_ms), SUM(timed)"
        f" FROM step_daily WHERE {where} GROUP BY flow_id, flow_version, step, outcome",
        params,
    )
    entries: dict[tuple[str, str, str], int] = {}
    ended: dict[tuple[str, str, str], int] = {}
    outcomes = []
    for flow, version, step, outcome, count, dur, timed in rows:
        key = (flow, version, step)
        if outcome == "":
            entries[key] = int(count)
            continue
        ended[key] = ended.get(key, 0) + int(count)
        outcomes.append((key, outcome, int(count), dur / timed / 1000.0 if timed else None))
    table_rows = [
        (*key, entries.get(key, 0), outcome, count, _ratio(count, ended[key]), mean)
        for key, outcome, count, mean in outcomes
    ]
    table_rows.sort(key=lambda r: (r[0], r[1], -r[3], r[2], -r[5]))
    return Table(
        "Block results (steps)",
        (
            Column("flow"),
            Column("version"),
            Column("step"),
            Column("entries", "int"),
            Column("outcome"),
            Column("count", "int"),
            Column("share", "pct"),
            Column("mean_s", "float"),
        ),
        table_rows,
    )


async def recognition(store: JournalStore, flt: ReportFilter) -> Table:
    where, params = flt.calls_where()
    sql = f"SELECT {sums(*RECOGNITION_MEASURES)} FROM call_hourly WHERE {where}"
    (row,) = await store.fetch(sql, params)
    calls, presented, by_ani, by_acct, ver, ido, notid, none, dont, noinp = row[:10]
    ida, va, tt = _mean(row[10], row[11]), _mean(row[12], row[13]), _mean(row[14], row[15])
    calls = calls or 0
    t = Table("Recognition summary", METRIC_COLUMNS)
    t.rows = [
        ("calls", calls, None),
        ("ANI presented", presented or 0, _ratio(presented, calls)),
        ("identified by ANI (of presented)", by_ani or 0, _ratio(by_ani, presented)),
        ("identified by account number", by_acct or 0, _ratio(by_acct, calls)),
        ("identified and verified", ver or 0, _ratio(ver, calls)),
        ("identified only", ido or 0, _ratio(ido, calls)),
        ("not identified", notid or 0, _ratio(notid, calls)),
        ("no ID&V status (hung up early)", none or 0, _ratio(none, calls)),
        ('answered "don\'t have"', dont or 0, _ratio(dont, calls)),
        ("gave no input at least once", noinp or 0, _ratio(noinp, calls)),
        ("mean account number attempts", ida, None),
        ("mean verification attempts", va, None),
        ("mean time to ID&V (s)", tt, None),
    ]
    return t


async def tasks(store: JournalStore, flt: ReportFilter) -> Table:
    """Business task summary: where calls went, and with what ID&V status."""
    where, params = flt.calls_where()
    rows = await store.fetch(
        f"SELECT route_kind, route_name, {sums('calls', 'verified', 'identified_only')},"
        f" {sums('not_identified', 'duration_sum', 'duration_n')} FROM call_hourly"
        f" WHERE {where} GROUP BY route_kind, route_name HAVING SUM(calls) > 0"
        " ORDER BY SUM(calls) DESC, route_kind",
        params,
    )
    total = sum(r[2] for r in rows)
    return Table(
        "Business task summary (routes)",
        (
            Column("route_kind"),
            Column("route"),
            Column("calls", "int"),
            Column("share", "pct"),
            Column("verified", "int"),
            Column("identified_only", "int"),
            Column("not_identified", "int"),
            Column("mean_duration_s", "float"),
        ),
        [
            (k, r, int(c), _ratio(c, total), int(v), int(i), int(x), _secs(_mean(d, dn)))
            for k, r, c, v, i, x, d, dn in rows
        ],
    )


Report = Callable[[JournalStore, ReportFilter], Awaitable[Table]]
REPORTS: dict[str, Report] = {
    "summary": summary,
    "calls-per-day": calls_per_day,
    "calls-by-hour": calls_by_hour,
    "steps": steps,
    "recognition": recognition,
    "tasks": tasks,
    "callbacks": callback_reports.callbacks,
    "queues": callback_reports.queues,
    "callbacks-now": callback_reports.callbacks_now,
}


async def run_report(store: JournalStore, name: str, flt: ReportFilter) -> Table:
    try:
        report = REPORTS[name]
    except KeyError:
        raise KeyError(f"no report named {name!r}; choose from {', '.join(REPORTS)}") from None
    return await report(store, flt)
