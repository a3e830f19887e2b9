"""Lockout across calls: too many wrong answers for one customer stop verification.

Attempt counters inside one call are not enough: a fraudster simply calls again. The state
therefore lives in SQLite (shared by workers, surviving restarts), and one implementation
serves both the embedded directory and any other one (HTTP) through `LockingDirectory`.

Every attempt is *reserved* as a failure before the answer is checked, in one atomic SQL
statement that also checks the limit. Parallel calls therefore cannot get more guesses than
`max_failures` between them, and a crash mid-check leaves a counted failure (fail safe).
The reservation is then settled: a correct answer clears the customer's failures, a wrong
one keeps it, and anything that revealed nothing about the answer (not enrolled, locked by
the remote side, an error) releases it. The window slides: a failure counts for `window_s`
seconds after it happened.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import aiosqlite

from ivr.directory._sqlite import connect_with_schema, translated
from ivr.directory.otp_state import OtpState
from ivr.directory.port import (
    CustomerDirectory,
    DeclaresFields,
    DirectoryError,
    LookupResult,
    VerifyStatus,
)
from ivr.fields import FieldSpec

Clock = Callable[[], float]

SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_by_customer ON failures (customer_id, at);
"""


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """`max_failures` wrong answers within `window_s` seconds lock the customer."""

    max_failures: int = 5
    window_s: float = 86400.0

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window_s <= 0:
            raise ValueError("lockout policy needs max_failures >= 1 and window_s > 0")


class LockoutState:
    """Failed (and in-flight) verification attempts per customer, kept in a SQLite file."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: str | Path) -> LockoutState:
        return cls(await connect_with_schema(path, SCHEMA, "lockout table"))

    async def begin_attempt(
        self, customer_id: str, now: float, policy: LockoutPolicy
    ) -> int | None:
        """Reserve one attempt; None if the customer is locked (nothing is recorded then)."""
        since = now - policy.window_s
        with translated("checking the lockout state"):
            await self._conn.execute(
                "DELETE FROM failures WHERE customer_id = ? AND at <= ?", (customer_id, since)
            )
            cursor = await self._conn.execute(
                "INSERT INTO failures (customer_id, at) SELECT ?, ? WHERE "
                "(SELECT COUNT(*) FROM failures WHERE customer_id = ? AND at > ?) < ?",
                (customer_id, now, customer_id, since, policy.max_failures),
            )
            return cursor.lastrowid if cursor.rowcount == 1 else None

    async def settle(self, customer_id: str, attempt_id: int, status: VerifyStatus) -> None:
        """Turn a reservation into its outcome: cleared, kept as a failure, or released."""
        with translated("recording the verification outcome"):
            if status is VerifyStatus.VERIFIED:
                await self._conn.execute(
                    "DELETE FROM failures WHERE customer_id = ?", (customer_id,)
                )
            elif status is not VerifyStatus.WRONG:
                await self.release(attempt_id)

    async def release(self, attempt_id: int) -> None:
        with translated("releasing a verification attempt"):
            await self._conn.execute("DELETE FROM failures WHERE id = ?", (attempt_id,))

    async def failure_count(self, customer_id: str, now: float, policy: LockoutPolicy) -> int:
        with translated("reading the lockout state"):
            cursor = await self._conn.execute(
                "SELECT COUNT(*) FROM failures WHERE customer_id = ? AND at > ?",
                (customer_id, now - policy.window_s),
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def is_locked(self, customer_id: str, now: float, policy: LockoutPolicy) -> bool:
        """Would the next attempt be refused? (Told at identification, so that the hand-off
        says `locked` even when the caller never answers a question.)"""
        return await self.failure_count(customer_id, now, policy) >= policy.max_failures

    async def unlock(self, customer_id: str) -> None:
        """Clear a customer's failures (an agent verified them another way)."""
        with translated("unlocking a customer"):
            await self._conn.execute("DELETE FROM failures WHERE customer_id = ?", (customer_id,))

    async def close(self) -> None:
        with translated("closing the lockout state"):
            await self._conn.close()


async def guarded_verify(
    state: LockoutState,
    policy: LockoutPolicy,
    clock: Clock,
    customer_id: str,
    check: Callable[[], Awaitable[VerifyStatus]],
) -> VerifyStatus:
    """Run `check` only if the customer is not locked, and count its outcome."""
    attempt_id = await state.begin_attempt(customer_id, clock(), policy)
    if attempt_id is None:
        return VerifyStatus.LOCKED
    try:
        status = await check()
    except BaseException:
        # Nothing about the answer was revealed; if even the release fails, the reservation
        # stays counted, which errs on the safe side.
        with contextlib.suppress(Exception):
            await state.release(attempt_id)
        raise
    await state.settle(customer_id, attempt_id, status)
    return status


class LockingDirectory:
    """Adds cross-call lockout to any CustomerDirectory (used for the HTTP directory)."""

    def __init__(
        self,
        inner: CustomerDirectory,
        state: LockoutState,
        policy: LockoutPolicy | None = None,
        clock: Clock = time.time,
        otp_state: OtpState | None = None,
    ) -> None:
        self.inner = inner
        self.state = state
        self.policy = policy or LockoutPolicy()
        self._clock = clock
        self.otp_state = otp_state  # one-time codes, in the lockout file

    async def _flag(self, result: LookupResult) -> LookupResult:
        customer = result.customer
        if customer is None or customer.locked:
            return result
        if await self.state.is_locked(customer.customer_id, self._clock(), self.policy):
            return LookupResult(result.status, replace(customer, locked=True))
        return result

    async def lookup_by_phone(self, e164: str) -> LookupResult:
        return await self._flag(await self.inner.lookup_by_phone(e164))

    async def lookup_by_account(self, account_number: str) -> LookupResult:
        return await self._flag(await self.inner.lookup_by_account(account_number))

    async def verify_answer(
        self, customer_id: str, field: str, answer: str, positions: Sequence[int] = ()
    ) -> VerifyStatus:
        return await guarded_verify(
            self.state,
            self.policy,
            self._clock,
            customer_id,
            lambda: self.inner.verify_answer(customer_id, field, answer, positions),
        )

    async def fields(self) -> dict[str, FieldSpec]:
        inner = self.inner
        if not isinstance(inner, DeclaresFields):
            raise DirectoryError("this directory does not say which fields it holds")
        return await inner.fields()

    async def close(self) -> None:
        try:
            await self.inner.close()
        finally:
            await self.state.close()
            if self.otp_state is not None:
                await self.otp_state.close()
