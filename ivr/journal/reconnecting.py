"""A journal store for the server's reads that opens when it can and reopens after a failure.

The server must start and take calls with its journal down (records go to the worker's spool,
`/readyz` says "degraded"), so the store the reports, dashboard and flow versions read is not
opened once at startup and trusted: it is opened on first use, and any failure of the store
closes it so that the next request opens it afresh. While it cannot be had every operation
raises `JournalUnavailable` (the web layer answers 503), tries are spaced by a back-off, and
the log says so once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from ivr.journal.metrics import READS_FAILED
from ivr.journal.records import JournalRecord
from ivr.journal.records import Row as RecordRow
from ivr.journal.store import JournalError, JournalStore, Row, open_store
from ivr.retry import Backoff

log = logging.getLogger(__name__)
REOPEN_BACKOFF = Backoff(first_s=0.5, cap_s=10.0)  # between tries of a store that will not open
CLOSE_TIMEOUT_S = 2.0  # closing a broken store: what a failed read may cost before its 503
T = TypeVar("T")


class JournalUnavailable(JournalError):
    """The journal store cannot be reached now (the message names no record data)."""


class ReconnectingStore:
    """JournalStore over `url` that is never left broken: see the module docstring."""

    def __init__(
        self,
        url: str,
        opener: Callable[[str], Awaitable[JournalStore]] = open_store,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        self._opener = opener
        self._clock = clock
        self._store: JournalStore | None = None
        self._lock = asyncio.Lock()
        self._failures = 0
        self._next_try = 0.0
        self.outage: str | None = None  # why the store is unavailable, None while it is fine
        self.rebuilt: tuple[str, ...] = ()  # what the last opening had to recreate

    async def open(self) -> bool:
        """Try to open now (at startup); False, logged, when the store cannot be had."""
        try:
            await self._get()
        except JournalUnavailable:
            return False
        return True

    async def _get(self) -> JournalStore:
        store = self._store
        if store is not None:
            return store
        async with self._lock:
            if self._store is not None:
                return self._store
            if self._clock() < self._next_try:
                raise JournalUnavailable(f"journal store unavailable ({self.outage})")
            try:
                self._store = await self._opener(self.url)
                self.rebuilt = self._store.rebuilt
            except Exception as error:
                self._down(error)
                raise JournalUnavailable(f"journal store unavailable ({self.outage})") from None
            if self.outage is not None:
                log.warning("journal store reachable again for reads")
            self.outage, self._failures = None, 0
            return self._store

    def _down(self, error: BaseException) -> None:
        READS_FAILED.inc()
        self._failures += 1
        self._next_try = self._clock() + REOPEN_BACKOFF.delay(self._failures)
        if self.outage is None:
            # the type only: a driver's message may quote the URL with its password
            log.error("journal store unavailable for reads: %s", type(error).__name__)
        self.outage = type(error).__name__

    async def _fail(self, error: BaseException) -> JournalUnavailable:
        """Close the broken store (the next use reopens it) and say why, without data."""
        store, self._store = self._store, None
        self._down(error)
        if store is not None:
            # a pool whose connections were cut may never close gracefully: bounded
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await store.close()
        return JournalUnavailable(f"journal store unavailable ({self.outage})")

    async def _call(self, operation: Callable[[JournalStore], Awaitable[T]]) -> T:
        store = await self._get()
        try:
            return await operation(store)
        except Exception as error:
            raise await self._fail(error) from None

    async def append(self, records: Sequence[JournalRecord]) -> None:
        await self._call(lambda store: store.append(records))

    async def append_rows(self, rows: Sequence[RecordRow]) -> None:
        await self._call(lambda store: store.append_rows(rows))

    async def append_batches(
        self, batches: Sequence[Sequence[RecordRow]], *, replay: bool = False
    ) -> None:
        await self._call(lambda store: store.append_batches(batches, replay=replay))

    async def journey(self, call_id: str) -> list[JournalRecord]:
        return await self._call(lambda store: store.journey(call_id))

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        return await self._call(lambda store: store.fetch(sql, params))

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        await self._call(lambda store: store.execute(sql, params))

    async def stream(
        self, sql: str, params: Mapping[str, Any], chunk_size: int = 5000
    ) -> AsyncIterator[list[Row]]:
        store = await self._get()
        try:
            async for chunk in store.stream(sql, params, chunk_size):
                yield chunk
        except Exception as error:
            raise await self._fail(error) from None

    async def prune(self, before: float) -> dict[str, int]:
        return await self._call(lambda store: store.prune(before))

    async def schema_version(self) -> int:
        return await self._call(lambda store: store.schema_version())

    async def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.close()
