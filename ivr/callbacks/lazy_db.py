"""The journal database for callbacks and step-ups, opened when it can be.

A server must start and take calls while its journal database is down, so these features do not
open it once at startup and fail: the database is opened on first use, tries are spaced by a
back-off, and until it opens every use raises `DatabaseUnavailable` (a `ConnectionError`, so
the routes' guard answers 503 and `/readyz` shows the store down, as for any database fault).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from ivr.callbacks.db import Database, Row, Tx, open_database
from ivr.retry import Backoff

_log = logging.getLogger(__name__)
REOPEN_BACKOFF = Backoff(first_s=0.5, cap_s=10.0)


class DatabaseUnavailable(ConnectionError):
    """The journal database could not be opened (yet); the message holds no URL."""


class LazyDatabase:
    """A `Database` over `url` that opens on first use and keeps trying after a failure."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        postgres = url.startswith(("postgresql://", "postgres://"))
        self.dialect = "postgresql" if postgres else "sqlite"
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
            return self._db

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
