"""`call_hourly`: the calls table rolled up per UTC hour, service line, flow, version and route.

Scanning a million `calls` rows took SQLite 3 to 8 s per report; the rollup holds at most one
row per hour and key (tens of thousands a year), so reports read it in milliseconds. It is kept
exact inside each write transaction: the touched calls' old contributions are subtracted
before their rows are upserted, and their new ones added after (a call's hour never moves).
"""

from __future__ import annotations

ROUTE_KIND = (
    "COALESCE(route_kind, CASE WHEN ended_by = 'hangup' THEN '(hung up)' ELSE '(in progress)' END)"
)
KEYS: tuple[tuple[str, str], ...] = (
    ("day", "day"),
    ("hour", "COALESCE(hour, 0)"),
    ("service_line", "COALESCE(service_line, '')"),
    ("flow_id", "COALESCE(flow_id, '')"),
    ("flow_version", "COALESCE(flow_version, '')"),
    ("route_kind", ROUTE_KIND),
    ("route_name", "COALESCE(route_name, '-')"),
)


def _flag(cond: str) -> str:
    return f"CASE WHEN {cond} THEN 1 ELSE 0 END"


# Upper bounds (seconds) of the time-in-IVR buckets: cumulative counts, as Prometheus keeps a
# histogram, so a percentile over any range of hours is read from sums (see dashboard_data).
DURATION_BOUNDS_S: tuple[int, ...] = (10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900)

VERIFIED = "idv_status = 'identified_and_verified'"
# (column, per-call expression over `calls`, is it a float?)
MEASURES: tuple[tuple[str, str, bool], ...] = (
    ("calls", "1", False),
    ("ended", _flag("ended_at IS NOT NULL"), False),
    ("routed", _flag("ended_by = 'route'"), False),
    ("hung_up", _flag("ended_by = 'hangup'"), False),
    ("to_agent", _flag("route_kind = 'agent'"), False),
    ("self_service", _flag("route_kind = 'self_service'"), False),
    ("verified", _flag(VERIFIED), False),
    ("identified_only", _flag("idv_status = 'identified_only'"), False),
    ("not_identified", _flag("idv_status = 'not_identified'"), False),
    ("no_status", _flag("idv_status IS NULL"), False),
    ("op_error_calls", _flag("op_errors > 0"), False),
    ("duration_sum", "COALESCE(duration_ms, 0)", True),
    ("duration_n", _flag("duration_ms IS NOT NULL"), False),
    ("steps_sum", "steps", False),
    ("ani_presented", _flag("ani_presented = 1"), False),
    ("ani_identified", _flag("ani_identified = 1"), False),
    ("account_identified", _flag("account_identified = 1"), False),
    ("dont_have_calls", _flag("dont_haves > 0"), False),
    ("no_input_calls", _flag("no_inputs > 0"), False),
    ("id_attempts_sum", "id_attempts", False),
    ("id_attempt_calls", _flag("id_attempts > 0"), False),
    ("verify_attempts_sum", "verify_attempts", False),
    ("verify_attempt_calls", _flag("verify_attempts > 0"), False),
    (
        "idv_time_sum",
        f"CASE WHEN {VERIFIED} AND idv_at IS NOT NULL THEN idv_at - started_at ELSE 0 END",
        True,
    ),
    ("idv_time_n", _flag(f"{VERIFIED} AND idv_at IS NOT NULL"), False),
    *(
        (f"duration_le_{bound}", _flag(f"duration_ms <= {bound * 1000}"), False)
        for bound in DURATION_BOUNDS_S
    ),
)


def ddl(real: str) -> str:
    keys = ", ".join(
        f"{name} {'INTEGER' if name == 'hour' else 'TEXT'} NOT NULL" for name, _ in KEYS
    )
    measures = ", ".join(
        f"{name} {real if is_float else 'BIGINT'} NOT NULL DEFAULT 0"
        for name, _, is_float in MEASURES
    )
    pk = ", ".join(name for name, _ in KEYS)
    return f"CREATE TABLE IF NOT EXISTS call_hourly ({keys}, {measures}, PRIMARY KEY ({pk}))"


def add_sql(sign: int, where: str, source: str = "calls") -> str:
    """Add (sign 1) or subtract (sign -1) the contributions of the `calls` rows `where` picks.

    `source` may join `calls` to the touched ids (PostgreSQL: keeps the plan on the index).
    """
    key_exprs = ", ".join(expr for _, expr in KEYS)
    sums = ", ".join(f"{sign} * SUM({expr})" for _, expr, _ in MEASURES)
    cols = ", ".join([name for name, _ in KEYS] + [name for name, _, _ in MEASURES])
    updates = ", ".join(f"{name} = call_hourly.{name} + excluded.{name}" for name, _, _ in MEASURES)
    return (
        f"INSERT INTO call_hourly ({cols}) SELECT {key_exprs}, {sums} FROM {source}"
        f" WHERE day IS NOT NULL AND ({where}) GROUP BY {key_exprs}"
        f" ON CONFLICT ({', '.join(name for name, _ in KEYS)}) DO UPDATE SET {updates}"
    )


BACKFILL = add_sql(1, "1 = 1")
