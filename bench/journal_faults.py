"""Faults done to real journal stores, as an operator or a broken disk would: used by the fault
tests (tests/journal/test_faults.py) and `bench.faults`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import asyncpg

from ivr.journal.pg_store import split_url


def sqlite_files(url: str) -> list[Path]:
    """The database file of a sqlite:/// URL and its WAL files."""
    path = url.removeprefix("sqlite://")
    path = path[1:] if path.startswith("/") else path
    return [Path(path + suffix) for suffix in ("", "-wal", "-shm")]


def delete_sqlite(url: str) -> None:
    """Delete the journal file (and its WAL files) under a server that has it open."""
    for path in sqlite_files(url):
        path.unlink(missing_ok=True)


def set_read_only(url: str, read_only: bool) -> None:
    """Make the journal's files read-only, or writable again. Root ignores file modes, so as root
    the files are made immutable (chattr +i), which refuses root's writes too."""
    for path in sqlite_files(url):
        if not path.exists():
            continue
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i" if read_only else "-i", str(path)], check=True)
        else:
            path.chmod(0o444 if read_only else 0o644)


async def admin_connection(url: str) -> tuple[asyncpg.Connection, str]:
    dsn, schema = split_url(url)
    return await asyncpg.connect(dsn.split("?")[0]), schema


async def drop_pg_table(url: str, table: str = "record_chunks") -> None:
    """DROP TABLE ... CASCADE in the journal's schema (the `records` view goes with the chunks)."""
    conn, schema = await admin_connection(url)
    try:
        await conn.execute(f'DROP TABLE "{schema}".{table} CASCADE')
    finally:
        await conn.close()


async def kill_pg_connections(url: str) -> int:
    """pg_terminate_backend() every connection of the journal URL (by its application_name, which
    the URL sets): as a server restart or a network cut ends them. How many were ended."""
    application = dict(
        part.split("=", 1) for part in url.split("?", 1)[1].split("&") if "=" in part
    ).get("application_name")
    assert application, "the journal URL must name an application_name to find its backends"
    conn, _ = await admin_connection(url)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = $1 AND pid <> pg_backend_pid()",
            application,
        )
    finally:
        await conn.close()
    return len(rows)
