"""What the manager's dashboard shows, as plain data: headline figures against the previous
period, trends per day, recent calls with search, and faults of the last hour.

Headline figures and trends read the `call_hourly` rollup, like the reports, so a period over a
million calls stays a few thousand rows; the recent-calls list reads `calls` through its
indexes (day, customer, masked calling number, last step); faults read the last hour's record
chunks only. Every query has the same text on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ivr.flow.svg import FlowCounts, counts_from_rows
from ivr.journal.faults import CAUSES, fault_cause
from ivr.journal.fold import ENTERED, HUNG_UP
from ivr.journal.reports import sums
from ivr.journal.rollup import DURATION_BOUNDS_S
from ivr.journal.store import JournalStore, ReportFilter

HEADLINE_MEASURES = (
    "calls",
    "ended",
    "verified",
    "identified_only",
    "not_identified",
    "to_agent",
    "self_service",
    "hung_up",
    "duration_sum",
    "duration_n",
    *(f"duration_le_{bound}" for bound in DURATION_BOUNDS_S),
)

# A fault cause warns when, over the window, it hit at least this many calls and this share of
# the calls started: one failed lookup in a quiet hour is not an incident.
FAULT_WINDOW_S = 3600
FAULT_MIN_CALLS = 5
FAULT_MIN_SHARE = 0.05

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive range of UTC days."""

    start: date
    end: date

    @classmethod
    def of(cls, flt: ReportFilter, today: date | None = None) -> Period:
        """`flt`'s days: today when none is given, an open end closed, a reversed range turned."""
        today = today or datetime.now(UTC).date()
        start = flt.from_day or flt.to_day or today
        end = flt.to_day or (today if flt.from_day else start)
        return cls(min(start, end), max(start, end))

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        days = (self.end - self.start).days + 1
        return Period(self.start - timedelta(days=days), self.start - timedelta(days=1))

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def applied(self, flt: ReportFilter) -> ReportFilter:
        return replace(flt, from_day=self.start, to_day=self.end)

    def as_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def percentile_from_buckets(
    fraction: float, counts: list[int], total: int, bounds: tuple[int, ...]
) -> float | None:
    """The `fraction` quantile (seconds) from cumulative bucket counts, interpolated linearly
    inside the bucket that holds it (as Prometheus' histogram_quantile does). A quantile past
    the last bound is reported as that bound: "at least"."""
    if total <= 0:
        return None
    rank = fraction * total
    below, lower = 0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return lower + (bound - lower) * share
        below, lower = cumulative, float(bound)
    return float(bounds[-1])


@dataclass(frozen=True, slots=True)
class Figures:
    """Headline figures of one period."""

    calls: int
    identified: int
    verified: int
    idv_success_rate: float | None  # verified / calls that reached an ID&V status
    self_service: int
    containment_rate: float | None  # self-service / ended calls
    to_agent: int
    to_agent_rate: float | None
    unverified_to_agent: int  # of the calls not verified, those routed to an agent
    hung_up: int
    hung_up_rate: float | None
    mean_ivr_s: float | None
    p90_ivr_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


UNVERIFIED_TO_AGENT = "CASE WHEN route_kind = 'agent' THEN calls - verified ELSE 0 END"


async def figures(store: JournalStore, flt: ReportFilter) -> Figures:
    """Headline figures of `flt`'s days (all days when it has none)."""
    where, params = flt.calls_where()
    (row,) = await store.fetch(
        f"SELECT {sums(*HEADLINE_MEASURES, UNVERIFIED_TO_AGENT)} FROM call_hourly WHERE {where}",
        params,
    )
    return _figures(row)


def _figures(row: Any) -> Figures:
    values = [v or 0 for v in row]
    calls, ended, verified, ident_only, not_ident, agent, selfs, hung, dur, dur_n = values[:10]
    buckets = [int(v) for v in values[10:-1]]
    unverified = values[-1]
    with_status = verified + ident_only + not_ident
    return Figures(
        calls=int(calls),
        identified=int(verified + ident_only),
        verified=int(verified),
        idv_success_rate=_ratio(verified, with_status),
        self_service=int(selfs),
        containment_rate=_ratio(selfs, ended),
        to_agent=int(agent),
        to_agent_rate=_ratio(agent, ended),
        unverified_to_agent=int(unverified),
        hung_up=int(hung),
        hung_up_rate=_ratio(hung, ended),
        mean_ivr_s=dur / dur_n / 1000.0 if dur_n else None,
        p90_ivr_s=percentile_from_buckets(0.9, buckets, int(dur_n), DURATION_BOUNDS_S),
    )


async def headline(store: JournalStore, flt: ReportFilter) -> dict[str, Any]:
    """This period's figures, the previous period's, and each figure's change."""
    current = Period.of(flt)
    before = current.previous()
    # one scan per period: a single scan of both with a CASE per measure was slower (PostgreSQL)
    now = await figures(store, current.applied(flt))
    then = await figures(store, before.applied(flt))
    change: dict[str, float | None] = {}
    for name, value in now.as_dict().items():
        old = getattr(then, name)
        change[name] = None if value is None or old is None else value - old
    return {
        "period": current.as_dict(),
        "previous_period": before.as_dict(),
        "figures": now.as_dict(),
        "previous": then.as_dict(),
        "change": change,
    }


async def trend(store: JournalStore, flt: ReportFilter) -> list[dict[str, Any]]:
    """Per day of the period: calls, verified, self-service, to agent, hung up."""
    days = Period.of(flt)
    where, params = days.applied(flt).calls_where()
    rows = await store.fetch(
        f"SELECT day, {sums('calls', 'verified', 'self_service', 'to_agent', 'hung_up')}"
        f" FROM call_hourly WHERE {where} GROUP BY day ORDER BY day",
        params,
    )
    by_day = {r[0]: r[1:] for r in rows}
    names = ("calls", "verified", "self_service", "to_agent", "hung_up")
    out = []
    for day in days.days():
        values = by_day.get(day.isoformat(), (0,) * len(names))
        counts = {name: int(value or 0) for name, value in zip(names, values, strict=True)}
        out.append({"day": day.isoformat(), **counts})
    return out


CALL_LIST_COLUMNS = (
    "call_id",
    "started_at",
    "ended_at",
    "service_line",
    "flow_id",
    "flow_version",
    "ani",
    "customer_id",
    "idv_status",
    "route_kind",
    "route_name",
    "ended_by",
    "last_step",
    "duration_ms",
)
MASKED_ANI_LENGTHS = range(6, 17)  # E.164 numbers are at most 15 digits and the "+"


def _search_clause(text: str, params: dict[str, Any]) -> str:
    """Match a call id or customer id exactly, or the calling number's last digits.

    Numbers are stored masked to their last four digits ("*********0123"), so "0123" is looked
    up as each masked length it could have: an IN list the `calls_ani` index answers.
    """
    params["q"] = text
    clauses = ["call_id = :q", "customer_id = :q"]
    if text.isdigit() and len(text) == 4:
        for length in MASKED_ANI_LENGTHS:
            params[f"ani{length}"] = "*" * (length - 4) + text
        names = ", ".join(f":ani{length}" for length in MASKED_ANI_LENGTHS)
        clauses.append(f"ani IN ({names})")
    return "(" + " OR ".join(clauses) + ")"


OUTCOME_FILTERS = {
    "verified": "idv_status = 'identified_and_verified'",
    "identified_only": "idv_status = 'identified_only'",
    "not_identified": "idv_status = 'not_identified'",
    "self_service": "route_kind = 'self_service'",
    "agent": "route_kind = 'agent'",
    "hung_up": "ended_by = 'hangup'",
    "live": "ended_at IS NULL",
}


async def recent_calls(
    store: JournalStore,
    flt: ReportFilter,
    *,
    search: str = "",
    outcome: str = "",
    step: str = "",
    page: int = 1,
    size: int = PAGE_SIZE,
) -> dict[str, Any]:
    """A page of calls, newest first, in the period and filters, optionally searched."""
    if outcome and outcome not in OUTCOME_FILTERS:
        raise ValueError(f"outcome: one of {', '.join(OUTCOME_FILTERS)}")
    size = max(1, min(size, MAX_PAGE_SIZE))
    page = max(1, page)
    days = Period.of(flt)
    # by start time, not by day: the (…, started_at) indexes then give the newest calls in
    # order and the query stops after one page
    line_flow, params = flt.line_flow_where()
    params["from_at"] = _midnight(days.start)
    params["to_at"] = _midnight(days.end + timedelta(days=1))
    clauses = ["started_at >= :from_at", "started_at < :to_at", line_flow]
    if search.strip():
        clauses.append(_search_clause(search.strip(), params))
    if outcome:
        clauses.append(OUTCOME_FILTERS[outcome])
    if step:
        clauses.append("last_step = :step AND ended_at IS NOT NULL")
        params["step"] = step
    params["limit"] = size + 1
    params["offset"] = (page - 1) * size
    rows = await store.fetch(
        f"SELECT {', '.join(CALL_LIST_COLUMNS)} FROM calls WHERE {' AND '.join(clauses)}"
        " ORDER BY started_at DESC LIMIT :limit OFFSET :offset",
        params,
    )
    calls = [dict(zip(CALL_LIST_COLUMNS, row, strict=True)) for row in rows[:size]]
    return {"page": page, "size": size, "more": len(rows) > size, "calls": calls}


async def faults(
    store: JournalStore, flt: ReportFilter, now: float | None = None, window_s: int = FAULT_WINDOW_S
) -> dict[str, Any]:
    """Calls routed on by a fault in the last `window_s`, by cause, with warnings."""
    now = time.time() if now is None else now
    since = now - window_s
    params: dict[str, Any] = {"since": since}
    extra, more = flt.line_flow_where()
    params.update(more)
    scope = f" AND {extra}"
    rows = await store.fetch(
        "SELECT call_id, kind, outcome, data FROM records WHERE chunk_last_at >= :since"
        " AND at >= :since AND ((kind = 'operation' AND outcome IN ('error', 'timeout', 'limited'))"
        f" OR (kind = 'step_outcome' AND outcome IN ('fallback', 'rate_limited'))){scope}",
        params,
    )
    by_cause: dict[str, set[str]] = {}
    for call_id, kind, outcome, data in rows:
        cause = fault_cause(kind, outcome, _as_mapping(data))
        if cause is not None:
            by_cause.setdefault(cause, set()).add(call_id)
    (started,) = await store.fetch(
        f"SELECT COUNT(*) FROM calls WHERE started_at >= :since{scope}", params
    )
    calls = int(started[0] or 0)
    causes = []
    for cause, label in CAUSES.items():
        n = len(by_cause.get(cause, ()))
        share = _ratio(n, calls)
        warn = n >= FAULT_MIN_CALLS and (share is None or share >= FAULT_MIN_SHARE)
        causes.append({"cause": cause, "label": label, "calls": n, "share": share, "warning": warn})
    return {
        "window_s": window_s,
        "calls_started": calls,
        "thresholds": {"min_calls": FAULT_MIN_CALLS, "min_share": FAULT_MIN_SHARE},
        "causes": causes,
        "warning": any(c["warning"] for c in causes),
    }


def _as_mapping(data: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    if isinstance(data, str) and data:
        try:
            loaded = json.loads(data)
        except ValueError:
            return {}
        return loaded if isinstance(loaded, dict) else {}
    return {}


# Step outcomes that end a step without what it asked for: the caller is lost to the flow there.
FAILED_OUTCOMES = (
    "max_attempts",
    "dont_have",
    "error",
    "timeout",
    "fallback",
    "locked",
    "not_enrolled",
    "rate_limited",
)


async def losses(store: JournalStore, flt: ReportFilter) -> list[dict[str, Any]]:
    """Per step: calls that entered it, hung up in it, and left it failed; most lost first."""
    where, params = Period.of(flt).applied(flt).calls_where()
    names = ", ".join(f"'{o}'" for o in FAILED_OUTCOMES)
    rows = await store.fetch(
        f"SELECT step, SUM(CASE WHEN outcome = '{ENTERED}' THEN n ELSE 0 END),"
        f" SUM(CASE WHEN outcome = '{HUNG_UP}' THEN n ELSE 0 END),"
        f" SUM(CASE WHEN outcome IN ({names}) THEN n ELSE 0 END)"
        f" FROM step_daily WHERE {where} GROUP BY step",
        params,
    )
    out = []
    for step, entered, hung, failed in rows:
        entered, hung, failed = int(entered or 0), int(hung or 0), int(failed or 0)
        lost = hung + failed
        out.append(
            {
                "step": step,
                "entered": entered,
                "hung_up": hung,
                "failed": failed,
                "lost": lost,
                "lost_rate": _ratio(lost, entered),
            }
        )
    out.sort(key=lambda r: (-r["lost"], r["step"]))
    return out


async def flow_counts(store: JournalStore, flt: ReportFilter) -> FlowCounts:
    """Calls, step entries and outcome counts of one flow over `flt` (its `flow` must be set)."""
    where, params = flt.calls_where()
    (calls,) = await store.fetch(f"SELECT SUM(calls) FROM call_hourly WHERE {where}", params)
    rows = await store.fetch(
        f"SELECT step, outcome, SUM(n) FROM step_daily WHERE {where} GROUP BY step, outcome",
        params,
    )
    return counts_from_rows(int(calls[0] or 0), {(r[0], r[1]): int(r[2]) for r in rows})
