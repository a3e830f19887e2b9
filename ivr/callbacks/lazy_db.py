"""The journal database for callbacks and step-ups, opened when it can be.

A server must start and take calls while its journal database is down, so these features do not
open it once at startup and fail: the database is opened on first use, tries are spaced by a
back-off, and until it opens every use raises `DatabaseUnavailable` (a `ConnectionError`, so
the routes' guard answers 503 and `/readyz` shows the store down, as for any database fault).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from ivr.callbacks.db import Database, Row, Tx, open_database, sqlite_path
from ivr.retry import Backoff

_log = logging.getLogger(__name__)
REOPEN_BACKOFF = Backoff(first_s=0.5, cap_s=10.0)
CLOSE_BOUND_S = 2.0  # letting go of a connection never holds the probe up longer


class DatabaseUnavailable(ConnectionError):
    """The journal database could not be opened (yet); the message holds no URL."""


def _missing(path: str) -> bool:
    return not os.path.exists(path)


class DatabaseFileGone(FileNotFoundError):
    """The SQLite file opened is no longer at its path (removed, or replaced by another)."""


class LazyDatabase:
    """A `Database` over `url` that opens on first use and keeps trying after a failure."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        postgres = url.startswith(("postgresql://", "postgres://"))
        self.dialect = "postgresql" if postgres else "sqlite"
        self._path = None if postgres else sqlite_path(url)
        self._file: tuple[int, int] | None = None  # (device, inode) of the SQLite file opened
        self._clock = clock
        self._db: Database | None = None
        self._lock = asyncio.Lock()
        self._failures = 0
        self._next_try = 0.0

    async def open(self) -> bool:
        """Try to open now (at startup); False, logged, when the database cannot be had."""
        try:
            await self._get()
        except DatabaseUnavailable:
            _log.error("journal database unavailable at startup: callbacks and step-ups wait")
            return False
        return True

    async def _get(self) -> Database:
        if self._db is not None:
            return self._db
        async with self._lock:
            if self._db is not None:
                return self._db
            if self._clock() < self._next_try:
                raise DatabaseUnavailable("the journal database is not open yet")
            if self._file is not None and self._path and _missing(self._path):
                # opening would make a new, empty database in its place: wait for it instead
                raise DatabaseUnavailable("the journal database file is missing")
            try:
                self._db = await open_database(self.url)
            except Exception as error:
                self._failures += 1
                self._next_try = self._clock() + REOPEN_BACKOFF.delay(self._failures)
                raise DatabaseUnavailable(
                    f"cannot open the journal database ({type(error).__name__})"
                ) from None
            if self._failures:
                _log.warning("journal database open after %d failed tries", self._failures)
            self._failures = 0
            if self._path:
                opened = os.stat(self._path)
                self._file = (opened.st_dev, opened.st_ino)
            return self._db

    async def ping(self) -> None:
        """Raise when the database does not answer (the health probe): `SELECT 1`, and on
        SQLite whether the file opened is still at its path and writable. A file removed or
        replaced is let go, so no write lands in a file nobody will read again."""
        database = await self._get()
        if self._path:
            try:
                self._check_file(self._path)
            except DatabaseFileGone:
                await self._let_go(database)
                raise
        await database.fetch("SELECT 1")

    def _check_file(self, path: str) -> None:
        try:
            found = os.stat(path)
        except FileNotFoundError:
            raise DatabaseFileGone("the journal database file is missing") from None
        if (found.st_dev, found.st_ino) != self._file:
            raise DatabaseFileGone("the journal database file was replaced")
        if not os.access(path, os.R_OK | os.W_OK):  # root too: an immutable file is refused
            raise PermissionError("the journal database file is not writable")

    async def _let_go(self, database: Database) -> None:
        async with self._lock:
            if self._db is database:
                self._db = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(database.close(), CLOSE_BOUND_S)

    async def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return await (await self._get()).fetch(sql, params)

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return await (await self._get()).execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        database = await self._get()
        async with database.transaction() as tx:
            yield tx

    async def close(self) -> None:
        database, self._db = self._db, None
        if database is not None:
            await database.close()
