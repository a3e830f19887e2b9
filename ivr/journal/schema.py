"""Journal schema, as numbered migrations applied on open.

Each dialect has its own list because types differ (REAL vs DOUBLE PRECISION, TEXT vs JSONB);
the column names are the same so report SQL is shared. Append a migration to change the
schema; never edit one that has shipped. Times are unix seconds; `day`/`hour` are UTC buckets.
"""

from __future__ import annotations

from ivr.journal import rollup
from ivr.journal.fold import CALL_COLUMNS

Migration = tuple[int, tuple[str, ...]]


TEXT_COLUMNS = frozenset(
    {
        "call_id",
        "day",
        "service_line",
        "flow_id",
        "flow_version",
        "language",
        "dnis",
        "ani_trust",
        "idv_status",
        "customer_id",
        "route_kind",
        "route_name",
        "route_target",
        "ended_by",
        "hangup_by",
        "last_step",
    }
)
REAL_COLUMNS = frozenset({"started_at", "ended_at", "duration_ms", "idv_at", "last_at"})
NULLABLE_INT_COLUMNS = frozenset({"hour", "ani_presented", "factors_passed"})


def call_column_type(col: str) -> str:
    """'text', 'real' or 'int': the kind of a `calls` column."""
    if col in TEXT_COLUMNS:
        return "text"
    return "real" if col in REAL_COLUMNS else "int"


def _calls_ddl(real: str) -> str:
    cols = []
    for col in CALL_COLUMNS:
        kind = call_column_type(col)
        if col == "call_id":
            cols.append("call_id TEXT PRIMARY KEY")
        elif kind == "text":
            cols.append(f"{col} TEXT")
        elif kind == "real":
            cols.append(f"{col} {real}")
        elif col in NULLABLE_INT_COLUMNS:
            cols.append(f"{col} INTEGER")
        else:
            cols.append(f"{col} INTEGER NOT NULL DEFAULT 0")
    return f"CREATE TABLE IF NOT EXISTS calls ({', '.join(cols)})"


def _common(real: str, json: str) -> tuple[str, ...]:
    return (
        f"""CREATE TABLE IF NOT EXISTS records (
            call_id TEXT NOT NULL, seq INTEGER NOT NULL, at {real} NOT NULL, kind TEXT NOT NULL,
            flow_id TEXT NOT NULL, flow_version TEXT NOT NULL, service_line TEXT NOT NULL,
            step TEXT, outcome TEXT, attempt INTEGER, duration_ms {real}, data {json},
            PRIMARY KEY (call_id, seq))""",
        "CREATE INDEX IF NOT EXISTS records_at ON records (at)",
        _calls_ddl(real),
        "CREATE INDEX IF NOT EXISTS calls_day ON calls (day)",
        "CREATE INDEX IF NOT EXISTS calls_line_day ON calls (service_line, day)",
        "CREATE INDEX IF NOT EXISTS calls_flow_day ON calls (flow_id, day)",
        "CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at)",
        f"""CREATE TABLE IF NOT EXISTS step_daily (
            day TEXT NOT NULL, service_line TEXT NOT NULL, flow_id TEXT NOT NULL,
            flow_version TEXT NOT NULL, step TEXT NOT NULL, outcome TEXT NOT NULL,
            n INTEGER NOT NULL DEFAULT 0, timed INTEGER NOT NULL DEFAULT 0,
            duration_ms {real} NOT NULL DEFAULT 0,
            PRIMARY KEY (day, service_line, flow_id, flow_version, step, outcome))""",
    )


def _rollup(real: str) -> tuple[str, ...]:
    """Migration 2: reports over a million calls read an hourly rollup (see rollup.py)."""
    return (rollup.ddl(real), rollup.BACKFILL)


SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    (1, _common("REAL", "TEXT")),
    (2, _rollup("REAL")),
)
POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    (1, _common("DOUBLE PRECISION", "JSONB")),
    (2, _rollup("DOUBLE PRECISION")),
)

VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)"
)


def latest(migrations: tuple[Migration, ...]) -> int:
    return max(version for version, _ in migrations)
