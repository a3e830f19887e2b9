"""Prebuilt reports over the `calls` and `step_daily` summary tables.

Each report is one or two portable SQL queries (same text on SQLite and PostgreSQL) filtered by
`ReportFilter`, shaped into a `Table` in Python. Rates are ratios of calls; durations are seconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ivr.journal.store import JournalStore, ReportFilter
from ivr.journal.table import Column, Table


def n(cond: str) -> str:
    """Portable count of rows matching a condition."""
    return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"


VERIFIED = "idv_status = 'identified_and_verified'"
ID_ONLY = "idv_status = 'identified_only'"
NOT_ID = "idv_status = 'not_identified'"


def _ratio(part: Any, whole: Any) -> float | None:
    return (part or 0) / whole if whole else None


def _secs(ms: Any) -> float | None:
    return ms / 1000.0 if ms is not None else None


METRIC_COLUMNS = (Column("metric"), Column("value", "float"), Column("rate", "pct"))


async def summary(store: JournalStore, flt: ReportFilter) -> Table:
    where, params = flt.calls_where()
    sql = f"""SELECT COUNT(*), {n("ended_at IS NOT NULL")}, {n("ended_by = 'route'")},
        {n("ended_by = 'hangup'")}, {n("route_kind = 'agent'")}, {n("route_kind = 'self_service'")},
        {n(VERIFIED)}, {n(ID_ONLY)}, {n(NOT_ID)}, {n("op_errors > 0")},
        AVG(duration_ms), AVG(steps), MIN(day), MAX(day)
        FROM calls WHERE {where}"""
    (row,) = await store.fetch(sql, params)
    calls, ended, routed, hung, agent, selfs, ver, ido, notid, errs, dur, steps, first, last = row
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
        ("mean call duration (s)", _secs(dur), None),
        ("mean steps per call", float(steps) if steps is not None else None, None),
    ]
    t.title = f"Summary ({first or '-'} .. {last or '-'})"
    return t


PER_BUCKET = f"""COUNT(*), {n(VERIFIED)}, {n(ID_ONLY)}, {n(NOT_ID)},
    {n("route_kind = 'agent'")}, {n("route_kind = 'self_service'")}, {n("ended_by = 'hangup'")},
    AVG(duration_ms)"""
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
    return (key, *(int(v or 0) for v in row[:7]), _secs(row[7]))


async def calls_per_day(store: JournalStore, flt: ReportFilter) -> Table:
    where, params = flt.calls_where()
    rows = await store.fetch(
        f"SELECT day, {PER_BUCKET} FROM calls WHERE {where} GROUP BY day ORDER BY day", params
    )
    return Table(
        "Calls per day (UTC)",
        (Column("day"), *BUCKET_COLUMNS),
        [_bucket_row(r[0], r[1:]) for r in rows],
    )


async def calls_by_hour(store: JournalStore, flt: ReportFilter) -> Table:
    where, params = flt.calls_where()
    rows = await store.fetch(
        f"SELECT hour, {PER_BUCKET} FROM calls WHERE {where} GROUP BY hour", params
    )
    by_hour = {r[0]: r[1:] for r in rows}
    empty = (0, 0, 0, 0, 0, 0, 0, None)
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
    sql = f"""SELECT COUNT(*), {n("ani_presented = 1")}, {n("ani_identified = 1")},
        {n("account_identified = 1")}, {n(VERIFIED)}, {n(ID_ONLY)}, {n(NOT_ID)},
        {n("idv_status IS NULL")}, {n("dont_haves > 0")}, {n("no_inputs > 0")},
        AVG(CASE WHEN id_attempts > 0 THEN id_attempts END),
        AVG(CASE WHEN verify_attempts > 0 THEN verify_attempts END),
        AVG(CASE WHEN {VERIFIED} THEN idv_at - started_at END)
        FROM calls WHERE {where}"""
    (row,) = await store.fetch(sql, params)
    calls, presented, by_ani, by_acct, ver, ido, notid, none, dont, noinp, ida, va, tt = row
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
        ("mean account number attempts", float(ida) if ida is not None else None, None),
        ("mean verification attempts", float(va) if va is not None else None, None),
        ("mean time to ID&V (s)", float(tt) if tt is not None else None, None),
    ]
    return t


async def tasks(store: JournalStore, flt: ReportFilter) -> Table:
    """Business task summary: where calls went, and with what ID&V status."""
    where, params = flt.calls_where()
    kind = (
        "COALESCE(route_kind, CASE WHEN ended_by = 'hangup' THEN '(hung up)'"
        " ELSE '(in progress)' END)"
    )
    rows = await store.fetch(
        f"SELECT {kind}, COALESCE(route_name, '-'), COUNT(*), {n(VERIFIED)}, {n(ID_ONLY)},"
        f" {n(NOT_ID)}, AVG(duration_ms) FROM calls WHERE {where}"
        f" GROUP BY {kind}, COALESCE(route_name, '-') ORDER BY COUNT(*) DESC",
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
            (k, route, c, _ratio(c, total), int(v or 0), int(i or 0), int(x or 0), _secs(d))
            for k, route, c, v, i, x, d in rows
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
}


async def run_report(store: JournalStore, name: str, flt: ReportFilter) -> Table:
    try:
        report = REPORTS[name]
    except KeyError:
        raise KeyError(f"no report named {name!r}; choose from {', '.join(REPORTS)}") from None
    return await report(store, flt)
