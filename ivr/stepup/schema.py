"""Journal migration 5: the step-up challenges an agent starts (CREATE TABLE only, independent
of the other migrations). No code is ever stored here: a challenge holds its state, how many
tries it took, and the id (`jti`) of the validation token issued for it, with when it was used.
"""

from __future__ import annotations

VERSION = 5


def statements(real: str) -> tuple[str, ...]:
    """The migration for one dialect: `real` is its float type."""
    return (
        f"""CREATE TABLE IF NOT EXISTS step_ups (
            id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, call_id TEXT,
            method TEXT NOT NULL, audience TEXT NOT NULL, reason TEXT,
            status TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,
            created_at {real} NOT NULL, expires_at {real} NOT NULL, settled_at {real},
            answered_by TEXT, token_jti TEXT UNIQUE, token_used_at {real})""",
        "CREATE INDEX IF NOT EXISTS step_ups_call ON step_ups (call_id, status)",
        "CREATE INDEX IF NOT EXISTS step_ups_customer ON step_ups (customer_id, status)",
    )


SQLITE = statements("REAL")
POSTGRES = statements("DOUBLE PRECISION")
