"""The embedded customer directory: one SQLite file, the default for small deployments.

Phones are stored in E.164 and indexed, so an incoming call is one indexed lookup. Answers
are stored only as keyed hashes (see hashing.py). Lockout is on by default and uses the same
file (see lockout.py), so opening the directory is enough to be safe against guessing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite

from ivr.directory._sqlite import connect, translated
from ivr.directory.hashing import (
    KeyRing,
    SecretKey,
    answer_matches,
    default_ring,
    hash_answer,
)
from ivr.directory.lockout import Clock, LockoutPolicy, LockoutState, guarded_verify
from ivr.directory.otp_state import OtpState
from ivr.directory.port import (
    Customer,
    DirectoryError,
    LookupResult,
    LookupStatus,
    VerifyStatus,
)
from ivr.fields import BUILTIN_FIELDS, FieldSpec, positions_text
from ivr.numbers import to_e164

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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fields (name TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (
    customer_id TEXT NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    positions TEXT NOT NULL DEFAULT '',
    hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    PRIMARY KEY (customer_id, field, positions)
);
CREATE INDEX IF NOT EXISTS secrets_by_key ON secrets (key_id);
"""
# Directories written before fields were declared kept one `answers` table of two fields and a
# `key_check` row telling which key hashed them; `_migrate` moves them into `secrets`.
_KEY_CHECK = "key_check"
UNKNOWN_KEY = "unknown"


class KeyMismatch(DirectoryError):
    """No configured key made the stored answers: every verification would fail."""


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """One customer to store; `answers` maps field to the plain answer (never shown in repr)."""

    customer_id: str
    name: str
    phones: tuple[str, ...] = ()
    account_number: str | None = None
    answers: dict[str, str] = field(default_factory=dict, repr=False)
    line: int = 0  # where it came from, for error reports
    totp_secret: str | None = field(default=None, repr=False)  # base32, sealed when stored


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
        keys: KeyRing,
    ) -> None:
        self._conn = conn
        self._lockout = lockout
        self.policy = policy
        self._clock = clock
        self.keys = keys
        self._fields: dict[str, FieldSpec] = {}
        self._lock = asyncio.Lock()  # one connection: keep transactions from interleaving
        self.otp_state: OtpState | None = None  # one-time codes, in the same file

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        policy: LockoutPolicy | None = None,
        lockout: bool = True,
        clock: Clock = time.time,
        keys: KeyRing | None = None,
        answer_key: bytes | None = None,
    ) -> SqliteDirectory:
        """Open (creating if needed) the directory; lockout state lives in the same file.

        `keys` are the answer keys, newest first (`KeyRing.from_settings`); `answer_key` one
        key alone; neither: the public development key (ivr.settings warns)."""
        conn = await connect(path)
        ring = keys or (KeyRing.of(answer_key) if answer_key else default_ring())
        try:
            with translated("creating the directory tables"):
                await conn.executescript(SCHEMA)
                await _migrate(conn, ring)
            state = await LockoutState.open(path) if lockout else None
        except BaseException:
            await conn.close()
            raise
        directory = cls(conn, state, policy or LockoutPolicy(), clock, ring)
        try:
            directory.otp_state = await OtpState.open(path)
        except BaseException:
            await directory.close()
            raise
        directory._fields = await directory._read_fields()
        await directory._report_keys()
        return directory

    async def _read_fields(self) -> dict[str, FieldSpec]:
        rows = await self._fetchall("SELECT name, spec FROM fields ORDER BY rowid", ())
        return {str(n): FieldSpec.model_validate_json(str(spec)) for n, spec in rows}

    async def fields(self) -> dict[str, FieldSpec]:
        """The security questions this directory holds answers for (learnt from the import)."""
        return dict(self._fields)

    async def key_usage(self) -> dict[str, int]:
        """How many stored answers (customer and field) each key id made."""
        rows = await self._fetchall(
            "SELECT key_id, COUNT(DISTINCT customer_id || char(0) || field) FROM secrets "
            "GROUP BY key_id ORDER BY key_id",
            (),
        )
        return {str(k): int(n) for k, n in rows}

    async def check_keys(self) -> None:
        """Raise KeyMismatch when answers are stored and no configured key made any of them."""
        usage = await self.key_usage()
        if usage and not set(usage) & set(self.keys.ids):
            raise KeyMismatch(
                f"no configured key made this directory's answers (stored under key id(s) "
                f"{', '.join(sorted(usage))}; configured {', '.join(self.keys.ids)}): every "
                "verification would fail. Set IVR_SECRET_KEY to the key they were made with "
                "(newest first, comma-separated), or re-import the customers"
            )

    async def _report_keys(self) -> None:
        usage = await self.key_usage()
        lost = sorted(set(usage) - set(self.keys.ids))
        if lost:
            logger.error(
                "%d stored answer(s) were hashed with a different IVR_SECRET_KEY (key id(s) %s): "
                "they cannot be verified until that key is configured again or customers are "
                "re-imported",
                sum(usage[k] for k in lost),
                ", ".join(lost),
            )

    async def _fetchall(self, sql: str, params: Sequence[object]) -> list[aiosqlite.Row]:
        async with self._lock:
            with translated("reading the directory"):
                cursor = await self._conn.execute(sql, params)
                return list(await cursor.fetchall())

    async def _fetchone(self, sql: str, params: Sequence[object]) -> aiosqlite.Row | None:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    async def _result(self, rows: list[aiosqlite.Row]) -> LookupResult:
        if not rows:
            return LookupResult(LookupStatus.NOT_FOUND)
        if len(rows) > 1:
            return LookupResult(LookupStatus.MANY)
        customer_id = str(rows[0][0])
        locked = self._lockout is not None and await self._lockout.is_locked(
            customer_id, self._clock(), self.policy
        )
        return LookupResult.found(Customer(customer_id, str(rows[0][1]), locked))

    async def lookup_by_phone(self, e164: str) -> LookupResult:
        number = to_e164(e164)
        if number is None:  # withheld or not a number: never matched against anyone
            return LookupResult(LookupStatus.NOT_FOUND)
        rows = await self._fetchall(
            "SELECT c.customer_id, c.name FROM phones p JOIN customers c USING (customer_id) "
            "WHERE p.e164 = ? ORDER BY c.customer_id LIMIT 2",
            (number,),
        )
        return await self._result(rows)

    async def lookup_by_account(self, account_number: str) -> LookupResult:
        number = "".join(account_number.split())
        if not number:
            return LookupResult(LookupStatus.NOT_FOUND)
        rows = await self._fetchall(
            "SELECT customer_id, name FROM customers WHERE account_number = ?", (number,)
        )
        return await self._result(rows)

    async def verify_answer(
        self, customer_id: str, field: str, answer: str, positions: Sequence[int] = ()
    ) -> VerifyStatus:
        spec = self._fields.get(field)
        if spec is None:
            known = ", ".join(self._fields) or "none: import customers first"
            raise DirectoryError(f"unknown verification field {field!r}; fields: {known}")
        wanted = check_positions(spec, positions)
        if self._lockout is None:
            return await self._check(customer_id, field, answer, wanted)
        return await guarded_verify(
            self._lockout,
            self.policy,
            self._clock,
            customer_id,
            lambda: self._check(customer_id, field, answer, wanted),
        )

    async def _check(
        self, customer_id: str, field: str, answer: str, positions: tuple[int, ...]
    ) -> VerifyStatus:
        where = positions_text(positions)
        row = await self._fetchone(
            "SELECT hash, key_id FROM secrets WHERE customer_id = ? AND field = ? "
            "AND positions = ?",
            (customer_id, field, where),
        )
        if row is None:
            return VerifyStatus.NOT_ENROLLED
        stored, made_by = str(row[0]), str(row[1])
        key = self.keys.get(made_by)
        if key is None:  # not the caller's fault: never counted against them (an error)
            raise DirectoryError(
                f"the answer was stored under key id {made_by}, which is not configured"
            )
        if not answer_matches(field, customer_id, answer, stored, key.secret, positions):
            return VerifyStatus.WRONG
        if key is not self.keys.current:  # rotation: re-store under the newest key
            current = self.keys.current
            async with self._lock:
                with translated("re-storing an answer under the new key"):
                    await self._conn.execute(
                        "UPDATE secrets SET hash = ?, key_id = ? WHERE customer_id = ? "
                        "AND field = ? AND positions = ? AND key_id = ?",
                        (
                            hash_answer(field, customer_id, answer, current.secret, positions),
                            current.id,
                            customer_id,
                            field,
                            where,
                            made_by,
                        ),
                    )
        return VerifyStatus.VERIFIED

    @property
    def lockout_state(self) -> LockoutState | None:
        return self._lockout

    async def count_customers(self) -> int:
        row = await self._fetchone("SELECT COUNT(*) FROM customers", ())
        return int(row[0]) if row else 0

    async def upsert_customers(
        self, records: Sequence[CustomerRecord], fields: Mapping[str, FieldSpec] | None = None
    ) -> UpsertResult:
        """Insert or replace `records` (phones and answers replaced) in one transaction.

        `fields` declares the security questions (config/directory.yaml); without it the
        fields already stored are kept (the built-in ones for a new directory). Phones are
        normalised to E.164. Raises RecordConflict, storing nothing, if a phone is not a
        number or an account number belongs to a stored customer outside `records`.
        """
        declared = dict(fields or self._fields or BUILTIN_FIELDS)
        ids = [r.customer_id for r in records]
        async with self._lock:
            with translated("importing customers"):
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = await self._upsert(records, ids, declared)
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
        self._fields = declared
        return result

    async def _select_column(self, sql: str, values: Sequence[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for chunk in _chunks(values):
            marks = ",".join("?" * len(chunk))
            cursor = await self._conn.execute(sql.format(marks=marks), chunk)
            found.extend((str(a), str(b)) for a, b in await cursor.fetchall())
        return found

    async def _upsert(
        self, records: Sequence[CustomerRecord], ids: list[str], fields: Mapping[str, FieldSpec]
    ) -> UpsertResult:
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
            if to_e164(p) is None
        ]
        if problems:
            raise RecordConflict(problems)
        secrets = list(_hashed(records, fields, self.keys.current))
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
        await self._conn.executemany("DELETE FROM secrets WHERE customer_id = ?", by_id)
        await self._conn.executemany(
            "INSERT OR IGNORE INTO phones (customer_id, e164) VALUES (?, ?)",
            [(r.customer_id, to_e164(p)) for r in records for p in r.phones],
        )
        await self._conn.executemany(
            "INSERT INTO secrets (customer_id, field, positions, hash, key_id) "
            "VALUES (?, ?, ?, ?, ?)",
            secrets,
        )
        await self._conn.execute("DELETE FROM fields")
        await self._conn.executemany(
            "INSERT INTO fields (name, spec) VALUES (?, ?)",
            [(name, spec.model_dump_json()) for name, spec in fields.items()],
        )
        return UpsertResult(new=len(batch - existing), updated=len(batch & existing))

    async def close(self) -> None:
        try:
            if self._lockout is not None:
                await self._lockout.close()
            if self.otp_state is not None:
                await self.otp_state.close()
        finally:
            with translated("closing the directory"):
                await self._conn.close()


def check_positions(spec: FieldSpec, positions: Sequence[int]) -> tuple[int, ...]:
    """The positions a verification names, checked against the field (sorted, 1-based)."""
    wanted = tuple(sorted(positions))
    if spec.kind == "full":
        if wanted:
            raise DirectoryError(f"{spec.name} is a full answer: no positions are asked")
        return wanted
    if len(set(wanted)) != spec.ask or not wanted or wanted[0] < 1 or wanted[-1] > spec.digits.max:
        raise DirectoryError(
            f"{spec.name} is asked {spec.ask} of {spec.digits.max} positions; got {list(wanted)}"
        )
    return wanted


def _hashed(
    records: Iterable[CustomerRecord], fields: Mapping[str, FieldSpec], key: SecretKey
) -> Iterator[tuple[str, str, str, str, str]]:
    """Rows of `secrets`: one per full answer, one per combination of a partial one."""
    for record in records:
        for name, answer in record.answers.items():
            spec = fields.get(name)
            if spec is None:
                raise DirectoryError(f"unknown answer field {name!r}; declare it first")
            if spec.kind == "full":
                digest = hash_answer(name, record.customer_id, answer, key.secret)
                yield record.customer_id, name, "", digest, key.id
                continue
            if len(answer) != spec.digits.max:
                raise DirectoryError(f"{name} needs exactly {spec.digits.max} digits")
            for combination in spec.combinations():
                digits = "".join(answer[p - 1] for p in combination)
                digest = hash_answer(name, record.customer_id, digits, key.secret, combination)
                yield record.customer_id, name, positions_text(combination), digest, key.id


async def _migrate(conn: aiosqlite.Connection, keys: KeyRing) -> None:
    """Move a directory of the first schema (`answers`, `key_check`) into `secrets`."""
    cursor = await conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'answers'"
    )
    if await cursor.fetchone() is None:
        return
    cursor = await conn.execute("SELECT value FROM meta WHERE key = ?", (_KEY_CHECK,))
    check = await cursor.fetchone()
    made_by = UNKNOWN_KEY
    for key in keys.keys:
        if check is not None and answer_matches("meta", "", _KEY_CHECK, str(check[0]), key.secret):
            made_by = key.id
            break
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(
            "INSERT OR IGNORE INTO secrets (customer_id, field, positions, hash, key_id) "
            "SELECT customer_id, field, '', hash, ? FROM answers",
            (made_by,),
        )
        await conn.executemany(
            "INSERT OR IGNORE INTO fields (name, spec) VALUES (?, ?)",
            [(name, spec.model_dump_json()) for name, spec in BUILTIN_FIELDS.items()],
        )
        await conn.execute("DROP TABLE answers")
        await conn.execute("DELETE FROM meta WHERE key = ?", (_KEY_CHECK,))
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
