"""Journal schema, as numbered migrations applied on open.

Each dialect has its own list because types differ (REAL vs DOUBLE PRECISION, TEXT vs JSONB);
the column names are the same so report SQL is shared. Append a migration to change the
schema; never edit one that has shipped. Times are unix seconds; `day`/`hour` are UTC buckets.
"""

from __future__ import annotations

from ivr.callbacks import schema as callbacks_schema
from ivr.journal import rollup
from ivr.journal.fold import CALL_COLUMNS
from ivr.stepup import schema as stepup_schema

Migration = tuple[int, tuple[str, ...]]
# (table or view, statements that recreate it): run for the ones found missing on open.
Repair = tuple[str, tuple[str, ...]]


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
        "ani",
        "factors_passed",
    }
)
REAL_COLUMNS = frozenset({"started_at", "ended_at", "duration_ms", "idv_at", "last_at"})
NULLABLE_INT_COLUMNS = frozenset({"hour", "ani_presented", "factors_passed", "locked"})
# Migration 8 (issue 13) added `locked` and turned `factors_passed` from a count into names.
ADDED_IN_8 = frozenset({"locked"})
INT_UNTIL_8 = frozenset({"factors_passed"})


def call_column_type(col: str) -> str:
    """'text', 'real' or 'int': the kind of a `calls` column."""
    if col in TEXT_COLUMNS:
        return "text"
    return "real" if col in REAL_COLUMNS else "int"


# The `calls` columns migration 1 created: frozen, so a fresh database and an upgraded one end
# with the same table once later migrations add their columns.
CALL_COLUMNS_V1: tuple[str, ...] = tuple(
    c for c in CALL_COLUMNS if c != "ani" and c not in ADDED_IN_8
)


def _calls_ddl(real: str, columns: tuple[str, ...] = CALL_COLUMNS_V1) -> str:
    cols = []
    for col in columns:
        as_shipped = columns is CALL_COLUMNS_V1 and col in INT_UNTIL_8
        kind = "int" if as_shipped else call_column_type(col)
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


# Migration 3: records are stored as chunks, one row per call and batch (see records.chunk_rows),
# and read through a `records` view with the old table's columns (plus the chunk's time range,
# `chunk_at` and `chunk_last_at`, for a time filter that an index can serve). Existing records
# become one chunk each, with their values exact (SQLite's json_array() would print a REAL with 15
# digits, so the body is spelled out with 17).
RECORD_CHUNKS_DDL = """CREATE TABLE record_chunks (
    call_id TEXT NOT NULL, seq INTEGER NOT NULL, at {real} NOT NULL, last_at {real} NOT NULL,
    n INTEGER NOT NULL, body {json} NOT NULL, PRIMARY KEY (call_id, seq))"""
CHUNKS_LAST_AT = "CREATE INDEX record_chunks_last_at ON record_chunks (last_at)"


def _sqlite_number(col: str) -> str:
    return f"CASE WHEN {col} IS NULL THEN 'null' ELSE printf('%!.17g', {col}) END"


_SQLITE_BODY = (
    "'[[' || seq || ',' || printf('%!.17g', at) || ',' || json_quote(kind) || ','"
    " || json_quote(flow_id) || ',' || json_quote(flow_version) || ','"
    " || json_quote(service_line) || ',' || json_quote(step) || ',' || json_quote(outcome)"
    f" || ',' || COALESCE(attempt, 'null') || ',' || {_sqlite_number('duration_ms')}"
    " || ',' || COALESCE(json(data), 'null') || ']]'"
)


def _sqlite_view_column(i: int, cast: str = "") -> str:
    value = f"json_extract(j.value, '$[{i}]')"
    return f"CAST({value} AS {cast})" if cast else value


SQLITE_RECORDS_VIEW = (
    "CREATE VIEW records AS SELECT c.call_id AS call_id,"
    f" {_sqlite_view_column(0)} AS seq, {_sqlite_view_column(1, 'REAL')} AS at,"
    f" {_sqlite_view_column(2)} AS kind, {_sqlite_view_column(3)} AS flow_id,"
    f" {_sqlite_view_column(4)} AS flow_version, {_sqlite_view_column(5)} AS service_line,"
    f" {_sqlite_view_column(6)} AS step, {_sqlite_view_column(7)} AS outcome,"
    f" {_sqlite_view_column(8)} AS attempt, {_sqlite_view_column(9, 'REAL')} AS duration_ms,"
    f" NULLIF({_sqlite_view_column(10)}, '{{}}') AS data,"
    " c.at AS chunk_at, c.last_at AS chunk_last_at"
    " FROM record_chunks AS c, json_each(c.body) AS j"
)
POSTGRES_RECORDS_VIEW = (
    "CREATE VIEW records AS SELECT c.call_id AS call_id, (e->>0)::int AS seq,"
    " (e->>1)::float8 AS at, e->>2 AS kind, e->>3 AS flow_id, e->>4 AS flow_version,"
    " e->>5 AS service_line, e->>6 AS step, e->>7 AS outcome, (e->>8)::int AS attempt,"
    " (e->>9)::float8 AS duration_ms, NULLIF(NULLIF(e->10, 'null'::jsonb), '{}'::jsonb) AS data,"
    " c.at AS chunk_at, c.last_at AS chunk_last_at"
    " FROM record_chunks AS c CROSS JOIN LATERAL jsonb_array_elements(c.body) AS e"
)
SQLITE_CHUNKS: tuple[str, ...] = (
    RECORD_CHUNKS_DDL.format(real="REAL", json="TEXT"),
    f"INSERT INTO record_chunks SELECT call_id, seq, at, at, 1, {_SQLITE_BODY} FROM records",
    "DROP TABLE records",
    CHUNKS_LAST_AT,
    SQLITE_RECORDS_VIEW,
)
POSTGRES_CHUNKS: tuple[str, ...] = (
    RECORD_CHUNKS_DDL.format(real="DOUBLE PRECISION", json="JSONB"),
    "INSERT INTO record_chunks SELECT call_id, seq, at, at, 1, jsonb_build_array(jsonb_build_array("
    "seq, at, kind, flow_id, flow_version, service_line, step, outcome, attempt, duration_ms,"
    " data)) FROM records",
    "DROP TABLE records",
    CHUNKS_LAST_AT,
    POSTGRES_RECORDS_VIEW,
)


def _dashboard(real: str) -> tuple[str, ...]:
    """Migration 6: what the manager's dashboard searches and measures.

    The calling number's last digits (masked as everywhere); indexes to find a call by customer
    or by those digits, and the newest calls of a line, a flow or a last step; `call_hourly` rebuilt
    with the time in the IVR bucketed (rollup.DURATION_BOUNDS_S), so a 90th percentile comes
    from the rollup.
    """
    return (
        "ALTER TABLE calls ADD COLUMN ani TEXT",
        "CREATE INDEX IF NOT EXISTS calls_customer ON calls (customer_id)",
        "CREATE INDEX IF NOT EXISTS calls_ani ON calls (ani)",
        "CREATE INDEX IF NOT EXISTS calls_last_step ON calls (last_step, started_at)",
        "CREATE INDEX IF NOT EXISTS calls_line_started ON calls (service_line, started_at)",
        "CREATE INDEX IF NOT EXISTS calls_flow_started ON calls (flow_id, started_at)",
        "DROP TABLE IF EXISTS call_hourly",
        rollup.ddl(real),
        rollup.BACKFILL,
    )


# Migration 7: published flow versions, content-addressed (`digest` is the SHA-256 of the flow's
# source), so that any worker sharing the journal database can run a version another worker
# published (see ivr/flowstore.py). Independent of migrations 4-6: it touches no other table.
FLOW_VERSIONS_DDL = """CREATE TABLE IF NOT EXISTS flow_versions (
    flow_id TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL, path TEXT NOT NULL,
    source TEXT NOT NULL, published_at {real} NOT NULL, PRIMARY KEY (flow_id, version))"""

# Migration 8 (issue 13): `factors_passed` holds the factors' names as handed to the agent
# (it was a count that the engine never filled), and `locked` says whether the customer was
# locked out. SQLite keeps the column's INTEGER affinity, which stores names as text; the old
# counts cannot become names, so PostgreSQL clears them.
SQLITE_TRUTH = ("ALTER TABLE calls ADD COLUMN locked INTEGER",)
POSTGRES_TRUTH = (
    "ALTER TABLE calls ADD COLUMN locked INTEGER",
    "ALTER TABLE calls ALTER COLUMN factors_passed TYPE TEXT USING NULL",
)

SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    (1, _common("REAL", "TEXT")),
    (2, _rollup("REAL")),
    (3, SQLITE_CHUNKS),
    (callbacks_schema.VERSION, callbacks_schema.SQLITE),
    (stepup_schema.VERSION, stepup_schema.SQLITE),
    (6, _dashboard("REAL")),
    (7, (FLOW_VERSIONS_DDL.format(real="REAL"),)),
    (8, SQLITE_TRUTH),
)
POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    (1, _common("DOUBLE PRECISION", "JSONB")),
    (2, _rollup("DOUBLE PRECISION")),
    (3, POSTGRES_CHUNKS),
    (callbacks_schema.VERSION, callbacks_schema.POSTGRES),
    (stepup_schema.VERSION, stepup_schema.POSTGRES),
    (6, _dashboard("DOUBLE PRECISION")),
    (7, (FLOW_VERSIONS_DDL.format(real="DOUBLE PRECISION"),)),
    (8, POSTGRES_TRUTH),
)


def _repairs(real: str, json: str, records_view: str) -> tuple[Repair, ...]:
    """Each table the journal writes, in its current shape, with what recreates it when it is
    missing (dropped by hand, a file replaced): the schema the migrations leave, statement by
    statement idempotent, so a store heals without replaying migrations that moved data."""
    common = _common(real, json)
    # today's `calls` (every column later migrations added) and every index on it
    indexes = [s for s in (*common, *_dashboard(real)) if s.startswith("CREATE INDEX")]
    calls = (_calls_ddl(real, CALL_COLUMNS), *(s for s in indexes if " ON calls " in s))
    step_daily = tuple(s for s in common if "step_daily (" in s)
    chunks = RECORD_CHUNKS_DDL.format(real=real, json=json).replace(
        "CREATE TABLE", "CREATE TABLE IF NOT EXISTS"
    )
    return (
        ("record_chunks", (chunks, CHUNKS_LAST_AT.replace("INDEX", "INDEX IF NOT EXISTS"))),
        ("records", (records_view,)),
        ("calls", calls),
        ("step_daily", step_daily),
        ("call_hourly", (rollup.ddl(real), rollup.BACKFILL)),
        ("flow_versions", (FLOW_VERSIONS_DDL.format(real=real),)),
        *by_table(callbacks_schema.statements(real, "BYTEA" if json == "JSONB" else "BLOB")),
    )


def by_table(statements: tuple[str, ...]) -> tuple[Repair, ...]:
    """Repairs from a migration of CREATE TABLE IF NOT EXISTS and CREATE INDEX IF NOT EXISTS
    statements only (as migration 4's): each table with the indexes on it."""
    tables: dict[str, list[str]] = {}
    for statement in statements:
        words = statement.split()
        if words[:2] == ["CREATE", "TABLE"]:
            tables[words[5]] = [statement]
        else:
            tables[words[words.index("ON") + 1]].append(statement)
    return tuple((name, tuple(made)) for name, made in tables.items())


SQLITE_REPAIRS = _repairs("REAL", "TEXT", SQLITE_RECORDS_VIEW)
POSTGRES_REPAIRS = _repairs("DOUBLE PRECISION", "JSONB", POSTGRES_RECORDS_VIEW)

VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)"
)


def latest(migrations: tuple[Migration, ...]) -> int:
    return max(version for version, _ in migrations)


def pending(migrations: tuple[Migration, ...], applied: set[int]) -> list[Migration]:
    """The migrations not applied yet, by version number (not by the highest version applied):
    independent migrations landed out of order (4 after 5) are still applied."""
    return [(version, sql) for version, sql in migrations if version not in applied]
