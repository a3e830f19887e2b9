"""Shared SQLite plumbing: one way to open a file and one way to report its failures.

Both the embedded directory and the lockout state live in SQLite files, possibly the same
one and possibly shared by several worker processes, so every connection gets the same
settings (WAL so readers never wait for the importer, a busy timeout instead of an instant
"database is locked") and every sqlite error becomes a DirectoryError the flow can route on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiosqlite

from ivr.directory.port import DirectoryError

BUSY_TIMEOUT_MS = 5000


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Re-raise sqlite/aiosqlite failures as DirectoryError.

    sqlite's messages name tables and columns, never bound values, and answers are only ever
    bound as parameters (and hashed first), so the message is safe to show.
    """
    try:
        yield
    except (sqlite3.Error, ValueError) as exc:  # aiosqlite raises ValueError when closed
        raise DirectoryError(f"directory database error while {action}: {exc}") from exc


def _check_path(target: Path) -> None:
    """Catch the usual mistakes before aiosqlite: when its connect fails it leaves its worker
    thread to report to an event loop that may be gone by then (a noisy thread exception)."""
    if target.is_dir() or not target.parent.is_dir():
        problem = "is a directory" if target.is_dir() else "has no parent directory"
        raise DirectoryError(f"directory database error while opening the database: {problem}")


async def connect(path: str | Path) -> aiosqlite.Connection:
    """Open `path` in autocommit mode (transactions are explicit) with WAL and a busy timeout."""
    _check_path(Path(path))
    with translated("opening the database"):
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: commits survive a crash of the process, only a power loss may roll
            # back the last ones; FULL would fsync every commit, on every verification.
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            await conn.close()
            raise
    return conn


async def connect_with_schema(path: str | Path, schema: str, tables: str) -> aiosqlite.Connection:
    """`connect`, then create `tables` (described for the error) from `schema` if missing."""
    conn = await connect(path)
    with translated(f"creating the {tables}"):
        try:
            await conn.executescript(schema)
        except BaseException:
            await conn.close()
            raise
    return conn
