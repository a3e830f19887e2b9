"""The embedded customer directory: one SQLite file, the default for small deployments.

Phones are stored in E.164 and indexed, so an incoming call is one indexed lookup. Answers
are stored only as keyed hashes (see hashing.py). Lockout is on by default and uses the same
file (see lockout.py), so opening the directory is enough to be safe against guessing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite

from ivr.directory._sqlite import connect, translated
from ivr.directory.hashing import answer_matches, hash_answer
from ivr.directory.lockout import Clock, LockoutPolicy, LockoutState, guarded_verify
from ivr.directory.phone import normalise_phone
from ivr.directory.port import (
    Customer,
    DirectoryError,
    LookupResult,
    LookupStatus,
    VerifyStatus,
)

ANSWER_FIELDS = ("date_of_birth", "pin")
logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    account_number TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS phones (
    customer_id TEXT NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE,
    e164 TEXT NOT NULL,
    PRIMARY KEY (customer_id, e164)
);
CREATE INDEX IF NOT EXISTS phones_by_e164 ON phones (e164);
CREATE TABLE IF NOT EXISTS answers (
    customer_id TEXT NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE,
    field TEXT NOT NULL CHECK (field IN ('date_of_birth', 'pin')),
    hash TEXT NOT NULL,
    PRIMARY KEY (customer_id, field)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_KEY_CHECK = "key_check"  # a hash of a constant: tells whether the current key hashed answers


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """One customer to store; `answers` maps field to the plain answer (never shown in repr)."""

    customer_id: str
    name: str
    phones: tuple[str, ...] = ()
    account_number: str | None = None
    answers: dict[str, str] = field(default_factory=dict, repr=False)
    line: int = 0  # where it came from, for error reports


class RecordConflict(DirectoryError):
    """Records clash with customers already stored; `problems` are (line, column, message)."""

    def __init__(self, problems: list[tuple[int, str, str]]) -> None:
        super().__init__(f"{len(problems)} record(s) conflict with stored customers")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class UpsertResult:
    new: int
    updated: int


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqliteDirectory:
    """CustomerDirectory over SQLite; open with `await SqliteDirectory.open(path)`."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        lockout: LockoutState | None,
        policy: LockoutPolicy,
        clock: Clock,
        answer_key: bytes | None = None,
    ) -> None:
        self._conn = conn
        self._key = answer_key  # None: the public development key (ivr.settings warns)
        self._lockout = lockout
        self.policy = policy
        self._clock = clock
        self._lock = asyncio.Lock()  # one connection: keep transactions from interleaving

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        policy: LockoutPolicy | None = None,
        lockout: bool = True,
        clock: Clock = time.time,
        answer_key: bytes | None = None,
    ) -> SqliteDirectory:
        """Open (creating if needed) the directory; lockout state lives in the same file.

        `answer_key` is the HMAC key of stored answers (`Settings.answer_key()`)."""
        conn = await connect(path)
        try:
            with translated("creating the directory tables"):
                await conn.executescript(SCHEMA)
            state = await LockoutState.open(path) if lockout else None
        except BaseException:
            await conn.close()
            raise
        directory = cls(conn, state, policy or LockoutPolicy(), clock, answer_key)
        await directory._check_key()
        return directory

    async def _check_key(self) -> None:
        stored = await self._fetchone("SELECT value FROM meta WHERE key = ?", (_KEY_CHECK,))
        if stored and not answer_matches("meta", "", _KEY_CHECK, str(stored[0]), self._key):
            logger.error(
                "the answers in this directory were hashed with a different IVR_SECRET_KEY: "
                "every verification will fail until the key is restored or customers re-imported"
            )

    async def _fetchall(self, sql: str, params: Sequence[object]) -> list[aiosqlite.Row]:
        async with self._lock:
            with translated("reading the directory"):
                cursor = await self._conn.execute(sql, params)
                return list(await cursor.fetchall())

    async def _fetchone(self, sql: str, params: Sequence[object]) -> aiosqlite.Row | None:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    @staticmethod
    def _result(rows: list[aiosqlite.Row]) -> LookupResult:
        if not rows:
            return LookupResult(LookupStatus.NOT_FOUND)
        if len(rows) > 1:
            return LookupResult(LookupStatus.MANY)
        return LookupResult.found(Customer(str(rows[0][0]), str(rows[0][1])))

    async def lookup_by_phone(self, e164: str) -> LookupResult:
        number = normalise_phone(e164)
        if number is None:  # withheld or not a number: never matched against anyone
            return LookupResult(LookupStatus.NOT_FOUND)
        rows = await self._fetchall(
            "SELECT c.customer_id, c.name FROM phones p JOIN customers c USING (customer_id) "
            "WHERE p.e164 = ? ORDER BY c.customer_id LIMIT 2",
            (number,),
        )
        return self._result(rows)

    async def lookup_by_account(self, account_number: str) -> LookupResult:
        number = "".join(account_number.split())
        if not number:
            return LookupResult(LookupStatus.NOT_FOUND)
        rows = await self._fetchall(
            "SELECT customer_id, name FROM customers WHERE account_number = ?", (number,)
        )
        return self._result(rows)

    async def verify_answer(self, customer_id: str, field: str, answer: str) -> VerifyStatus:
        if field not in ANSWER_FIELDS:
            raise DirectoryError(f"unknown verification field {field!r}; use {ANSWER_FIELDS}")
        if self._lockout is None:
            return await self._check(customer_id, field, answer)
        return await guarded_verify(
            self._lockout,
            self.policy,
            self._clock,
            customer_id,
            lambda: self._check(customer_id, field, answer),
        )

    async def _check(self, customer_id: str, field: str, answer: str) -> VerifyStatus:
        row = await self._fetchone(
            "SELECT hash FROM answers WHERE customer_id = ? AND field = ?", (customer_id, field)
        )
        if row is None:
            return VerifyStatus.NOT_ENROLLED
        matched = answer_matches(field, customer_id, answer, str(row[0]), self._key)
        return VerifyStatus.VERIFIED if matched else VerifyStatus.WRONG

    @property
    def lockout_state(self) -> LockoutState | None:
        return self._lockout

    async def count_customers(self) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM customers", ())
        return int(row[0]) if row else 0

    async def upsert_customers(self, records: Sequence[CustomerRecord]) -> UpsertResult:
        """Insert or replace `records` (phones and answers replaced) in one transaction.

        Phones are normalised to E.164. Raises RecordConflict, storing nothing, if a phone is
        not a number or an account number belongs to a stored customer outside `records`.
        """
        ids = [r.customer_id for r in records]
        async with self._lock:
            with translated("importing customers"):
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = await self._upsert(records, ids)
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
        return result

    async def _select_column(self, sql: str, values: Sequence[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for chunk in _chunks(values):
            marks = ",".join("?" * len(chunk))
            cursor = await self._conn.execute(sql.format(marks=marks), chunk)
            found.extend((str(a), str(b)) for a, b in await cursor.fetchall())
        return found

    async def _upsert(self, records: Sequence[CustomerRecord], ids: list[str]) -> UpsertResult:
        batch = set(ids)
        accounts = [r.account_number for r in records if r.account_number]
        owners = dict(
            await self._select_column(
                "SELECT account_number, customer_id FROM customers "
                "WHERE account_number IN ({marks})",
                accounts,
            )
        )
        problems = [
            (r.line, "account_number", f"already belongs to customer {owners[r.account_number]}")
            for r in records
            if r.account_number in owners and owners[r.account_number] not in batch
        ] + [
            (r.line, "phones", f"{p!r} is not a valid phone number")
            for r in records
            for p in r.phones
            if normalise_phone(p) is None
        ]
        if problems:
            raise RecordConflict(problems)
        existing = {
            a
            for a, _ in await self._select_column(
                "SELECT customer_id, name FROM customers WHERE customer_id IN ({marks})", ids
            )
        }
        by_id = [(i,) for i in ids]
        # Free the account numbers first, so that customers in one file may swap them.
        await self._conn.executemany(
            "UPDATE customers SET account_number = NULL WHERE customer_id = ?", by_id
        )
        await self._conn.executemany(
            "INSERT INTO customers (customer_id, name, account_number) VALUES (?, ?, ?) "
            "ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, "
            "account_number = excluded.account_number",
            [(r.customer_id, r.name, r.account_number) for r in records],
        )
        await self._conn.executemany("DELETE FROM phones WHERE customer_id = ?", by_id)
        await self._conn.executemany("DELETE FROM answers WHERE customer_id = ?", by_id)
        await self._conn.executemany(
            "INSERT OR IGNORE INTO phones (customer_id, e164) VALUES (?, ?)",
            [(r.customer_id, normalise_phone(p)) for r in records for p in r.phones],
        )
        await self._conn.executemany(
            "INSERT INTO answers (customer_id, field, hash) VALUES (?, ?, ?)",
            list(_hashed(records, self._key)),
        )
        await self._conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            (_KEY_CHECK, hash_answer("meta", "", _KEY_CHECK, self._key)),
        )
        return UpsertResult(new=len(batch - existing), updated=len(batch & existing))

    async def close(self) -> None:
        try:
            if self._lockout is not None:
                await self._lockout.close()
        finally:
            with translated("closing the directory"):
                await self._conn.close()


def _hashed(records: Iterable[CustomerRecord], key: bytes | None) -> Iterator[tuple[str, str, str]]:
    for record in records:
        for name, answer in record.answers.items():
            if name not in ANSWER_FIELDS:
                raise DirectoryError(f"unknown answer field {name!r}")
            yield record.customer_id, name, hash_answer(name, record.customer_id, answer, key)
