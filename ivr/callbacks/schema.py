"""Journal migration 4: the callback tables (CREATE TABLE only, independent of other migrations).

Secrets are stored only as AES-GCM ciphertext with the id of the key that sealed them
(crypto.py); `request_hash` is a keyed hash of an idempotent booking's body, never the body.
"""

from __future__ import annotations

VERSION = 4


def statements(real: str, blob: str) -> tuple[str, ...]:
    """The migration for one dialect: `real` and `blob` are its float and bytes types."""
    return (
        f"""CREATE TABLE IF NOT EXISTS callbacks (
            id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, customer_name TEXT,
            number TEXT NOT NULL, queue TEXT NOT NULL, reason TEXT, language TEXT,
            window_start {real} NOT NULL, window_end {real} NOT NULL, time_zone TEXT NOT NULL,
            scheduled_at {real} NOT NULL, status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,
            retry_delay_s INTEGER NOT NULL, next_attempt_at {real},
            idv_status TEXT NOT NULL, source TEXT NOT NULL,
            secret_kid TEXT, secret_ct {blob}, read_secret INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 1, idempotency_key TEXT, request_hash TEXT,
            call_id TEXT, outcome TEXT, created_at {real} NOT NULL, updated_at {real} NOT NULL,
            connected_at {real}, ended_at {real},
            UNIQUE (customer_id, idempotency_key))""",
        "CREATE INDEX IF NOT EXISTS callbacks_due ON callbacks (status, next_attempt_at)",
        "CREATE INDEX IF NOT EXISTS callbacks_customer ON callbacks (customer_id, created_at)",
        "CREATE INDEX IF NOT EXISTS callbacks_call ON callbacks (call_id)",
        f"""CREATE TABLE IF NOT EXISTS callback_events (
            callback_id TEXT NOT NULL, seq INTEGER NOT NULL, at {real} NOT NULL,
            status TEXT NOT NULL, detail TEXT, PRIMARY KEY (callback_id, seq))""",
        "CREATE INDEX IF NOT EXISTS callback_events_at ON callback_events (at)",
        f"""CREATE TABLE IF NOT EXISTS standing_secrets (
            customer_id TEXT PRIMARY KEY, secret_kid TEXT NOT NULL, secret_ct {blob} NOT NULL,
            updated_at {real} NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS queue_stats (
            queue TEXT NOT NULL, at {real} NOT NULL, agents_staffed INTEGER NOT NULL,
            agents_available INTEGER NOT NULL, calls_waiting INTEGER NOT NULL,
            average_handle_time_s {real} NOT NULL, estimate_s {real}, method TEXT,
            PRIMARY KEY (queue, at))""",
        f"""CREATE TABLE IF NOT EXISTS leases (
            name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at {real} NOT NULL)""",
    )


SQLITE = statements("REAL", "BLOB")
POSTGRES = statements("DOUBLE PRECISION", "BYTEA")
