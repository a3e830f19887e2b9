"""Reports `callbacks` and `queues` for `ivr report` (table, CSV or JSON) and /reports.

Both read the callback tables of the journal database; days are UTC, like the other reports.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from ivr.journal.store import JournalStore, ReportFilter
from ivr.journal.table import Column, Table


def _bounds(flt: ReportFilter) -> tuple[str, dict[str, Any]]:
    clauses, params = ["1 = 1"], {}
    if flt.from_day:
        clauses.append("{at} >= :from_at")
        params["from_at"] = datetime(*flt.from_day.timetuple()[:3], tzinfo=UTC).timestamp()
    if flt.to_day:
        end = flt.to_day + timedelta(days=1)
        clauses.append("{at} < :to_at")
        params["to_at"] = datetime(*end.timetuple()[:3], tzinfo=UTC).timestamp()
    return " AND ".join(clauses), params


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()


async def callbacks(store: JournalStore, flt: ReportFilter) -> Table:
    """Per day booked: how many were booked, and how they ended; the mean delay from the
    scheduled time to the customer being connected."""
    where, params = _bounds(flt)
    rows = await store.fetch(
        "SELECT created_at, status, scheduled_at, connected_at, source FROM callbacks"
        f" WHERE {where.format(at='created_at')}",
        params,
    )
    days: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for created, status, scheduled, connected, source in rows:
        day = days[_day(float(created))]
        day["booked"] += 1
        day[f"from_{source}"] += 1
        day[str(status)] += 1
        if connected is not None:
            day["connected_n"] += 1
            day["delay_sum"] += max(float(connected) - float(scheduled), 0.0)
    return Table(
        "Callbacks per day booked (UTC)",
        (
            Column("day"), Column("booked", "int"), Column("from_app", "int"),
            Column("from_ivr", "int"), Column("completed", "int"), Column("failed", "int"),
            Column("cancelled", "int"), Column("expired", "int"), Column("pending", "int"),
            Column("mean_delay_to_connect_s", "float"),
        ),
        [
            (
                key, int(d["booked"]), int(d["from_app"]), int(d["from_ivr"]),
                int(d["completed"]), int(d["failed"]), int(d["cancelled"]), int(d["expired"]),
                int(d["requested"] + d["scheduled"] + d["dialling"] + d["connected"]),
                d["delay_sum"] / d["connected_n"] if d["connected_n"] else None,
            )
            for key, d in sorted(days.items())
        ],
    )  # fmt: skip


async def queues(store: JournalStore, flt: ReportFilter) -> Table:
    """Per queue and day: what the pushed figures showed, and the waits estimated from them."""
    where, params = _bounds(flt)
    rows = await store.fetch(
        "SELECT queue, at, agents_staffed, agents_available, calls_waiting,"
        f" average_handle_time_s, estimate_s, method FROM queue_stats"
        f" WHERE {where.format(at='at')} ORDER BY queue, at",
        params,
    )
    groups: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        groups[(str(row[0]), _day(float(row[1])))].append(row)
    out = []
    for (queue, day), group in sorted(groups.items()):
        n = len(group)
        estimates = [float(r[6]) for r in group if r[6] is not None]
        out.append(
            (
                queue, day, n,
                sum(int(r[2]) for r in group) / n, sum(int(r[3]) for r in group) / n,
                sum(int(r[4]) for r in group) / n, sum(float(r[5]) for r in group) / n,
                sum(estimates) / len(estimates) if estimates else None,
                max(estimates) if estimates else None,
                sum(1 for r in group if r[7] == "unknown"),
                sum(1 for r in group if r[7] == "closed"),
            )
        )  # fmt: skip
    return Table(
        "Queue figures pushed and the waits estimated from them (UTC days)",
        (
            Column("queue"), Column("day"), Column("pushes", "int"),
            Column("mean_agents_staffed", "float"), Column("mean_agents_available", "float"),
            Column("mean_calls_waiting", "float"), Column("mean_handle_time_s", "float"),
            Column("mean_estimate_s", "float"), Column("max_estimate_s", "float"),
            Column("unknown", "int"), Column("closed", "int"),
        ),
        out,
    )  # fmt: skip


async def callbacks_now(store: JournalStore, flt: ReportFilter) -> Table:
    """For the dashboard: callbacks due now, waiting, dialling, connected; ended today."""
    now = datetime.now(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp()
    rows = await store.fetch(
        "SELECT status, CASE WHEN status = 'scheduled' AND next_attempt_at <= :now"
        " THEN 1 ELSE 0 END, COUNT(*) FROM callbacks"
        " WHERE status IN ('requested', 'scheduled', 'dialling', 'connected')"
        " OR ended_at >= :midnight GROUP BY 1, 2",
        {"now": now.timestamp(), "midnight": midnight},
    )
    counts: dict[str, int] = defaultdict(int)
    for status, due, n in rows:
        name = "due now" if due else "scheduled later" if status == "scheduled" else str(status)
        if status in ("completed", "failed", "cancelled", "expired"):
            name = f"{status} today"
        counts[name] += int(n)
    names = (
        "due now", "scheduled later", "dialling", "connected",
        "completed today", "failed today", "cancelled today", "expired today",
    )  # fmt: skip
    return Table(
        "Callbacks now",
        (Column("metric"), Column("value", "int")),
        [(name, counts.get(name, 0)) for name in names],
    )
