"""One-time code state beside the lockout state: TOTP enrolments and codes sent to customers.

It lives in the same SQLite file as the lockout (the directory's file, or an HTTP directory's
lockout file) for the same reasons: every worker of the host reads and writes it, it survives
restarts, and a webhook that lands on another worker finds the code the first one sent. Each
check-and-change is one SQL statement, so two workers cannot both accept the same TOTP time
step or both spend the last attempt of a sent code.

Nothing here is readable on its own: TOTP secrets are stored sealed (AES-GCM, key id beside
them, ivr.stepup.totp seals and opens), sent codes only as keyed hashes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from ivr.directory._sqlite import connect_with_schema, translated

SCHEMA = """
CREATE TABLE IF NOT EXISTS totp_enrolments (
    customer_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    sealed BLOB NOT NULL,
    last_step INTEGER NOT NULL DEFAULT -1
);
CREATE TABLE IF NOT EXISTS sent_codes (
    customer_id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sends INTEGER NOT NULL DEFAULT 1,
    window_started_at REAL NOT NULL
);
"""


MIN_SECRET_CHARS = 26  # 128 bits, the least RFC 4226 allows (pyotp refuses under 112)


def normalise_secret(text: str) -> str:
    """A base32 TOTP secret as authenticator apps show it (spaces, lower case allowed), upper
    case without spaces; ValueError (never quoting the secret) when it is not one."""
    secret = "".join(text.split()).upper().rstrip("=")
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"a TOTP secret needs at least {MIN_SECRET_CHARS} base32 characters")
    try:
        base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=False)
    except (binascii.Error, ValueError):
        raise ValueError("a TOTP secret must be base32 (letters A-Z and digits 2-7)") from None
    return secret


def totp_binding(customer_id: str) -> str:
    """What a sealed secret is bound to: copied onto another customer, it does not open."""
    return f"totp:{customer_id}"


@dataclass(frozen=True, slots=True)
class Enrolment:
    key_id: str
    sealed: bytes
    last_step: int


@dataclass(frozen=True, slots=True)
class PendingCode:
    code_hash: str
    key_id: str
    expires_at: float
    attempts: int
    sends: int
    window_started_at: float


class OtpState:
    """TOTP enrolments (sealed, with the last time step used) and pending sent codes."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: str | Path) -> OtpState:
        return cls(await connect_with_schema(path, SCHEMA, "one-time code tables"))

    # -- TOTP ---------------------------------------------------------------------------------

    async def enrol(self, customer_id: str, key_id: str, sealed: bytes) -> None:
        """Store (or replace) a customer's sealed secret; a new secret starts with no step used."""
        with translated("storing a TOTP enrolment"):
            await self._conn.execute(
                "INSERT INTO totp_enrolments (customer_id, key_id, sealed, last_step) "
                "VALUES (?, ?, ?, -1) ON CONFLICT (customer_id) DO UPDATE SET "
                "key_id = excluded.key_id, sealed = excluded.sealed, last_step = -1",
                (customer_id, key_id, sealed),
            )

    async def reseal(self, customer_id: str, old_key_id: str, key_id: str, sealed: bytes) -> None:
        """Re-store a secret under the newest key (rotation), keeping its last step."""
        with translated("resealing a TOTP enrolment"):
            await self._conn.execute(
                "UPDATE totp_enrolments SET key_id = ?, sealed = ? "
                "WHERE customer_id = ? AND key_id = ?",
                (key_id, sealed, customer_id, old_key_id),
            )

    async def enrolment(self, customer_id: str) -> Enrolment | None:
        with translated("reading a TOTP enrolment"):
            cursor = await self._conn.execute(
                "SELECT key_id, sealed, last_step FROM totp_enrolments WHERE customer_id = ?",
                (customer_id,),
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        return Enrolment(str(row[0]), bytes(row[1]), int(row[2]))

    async def use_step(self, customer_id: str, step: int) -> bool:
        """Claim time step `step` for the customer: False when it (or a later one) was used."""
        with translated("recording a TOTP time step"):
            cursor = await self._conn.execute(
                "UPDATE totp_enrolments SET last_step = ? WHERE customer_id = ? AND last_step < ?",
                (step, customer_id, step),
            )
        return cursor.rowcount == 1

    async def remove_enrolments(self, customer_ids: list[str]) -> None:
        with translated("removing TOTP enrolments"):
            await self._conn.executemany(
                "DELETE FROM totp_enrolments WHERE customer_id = ?", [(c,) for c in customer_ids]
            )

    async def key_usage(self) -> dict[str, int]:
        """How many enrolments each key id sealed (after rotating IVR_OTP_KEYS)."""
        with translated("reading TOTP key usage"):
            cursor = await self._conn.execute(
                "SELECT key_id, COUNT(*) FROM totp_enrolments GROUP BY key_id ORDER BY key_id"
            )
            rows = await cursor.fetchall()
        return {str(k): int(n) for k, n in rows}

    # -- sent codes ---------------------------------------------------------------------------

    async def pending(self, customer_id: str) -> PendingCode | None:
        with translated("reading a sent code"):
            cursor = await self._conn.execute(
                "SELECT code_hash, key_id, expires_at, attempts, sends, window_started_at "
                "FROM sent_codes WHERE customer_id = ?",
                (customer_id,),
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        return PendingCode(
            str(row[0]), str(row[1]), float(row[2]), int(row[3]), int(row[4]), float(row[5])
        )

    async def reserve_send(
        self, customer_id: str, now: float, max_sends: int, window_s: float
    ) -> bool:
        """Count one more send in the customer's window; False (nothing changed) when the
        window's sends are spent. A window that has passed starts again."""
        with translated("counting a sent code"):
            await self._conn.execute(
                "DELETE FROM sent_codes WHERE customer_id = ? AND window_started_at <= ? "
                "AND expires_at <= ?",
                (customer_id, now - window_s, now),
            )
            cursor = await self._conn.execute(
                "INSERT INTO sent_codes (customer_id, code_hash, key_id, expires_at, attempts, "
                "sends, window_started_at) VALUES (?, '', '', 0, 0, 1, ?) "
                "ON CONFLICT (customer_id) DO UPDATE SET sends = sends + 1 "
                "WHERE sends < ? OR window_started_at <= ?",
                (customer_id, now, max_sends, now - window_s),
            )
            if cursor.rowcount != 1:
                return False
            await self._conn.execute(  # a window that had passed restarts with this send
                "UPDATE sent_codes SET sends = 1, window_started_at = ? "
                "WHERE customer_id = ? AND window_started_at <= ?",
                (now, customer_id, now - window_s),
            )
        return True

    async def store_code(
        self, customer_id: str, code_hash: str, key_id: str, expires_at: float
    ) -> None:
        """The code just sent replaces any earlier one (its attempts start again)."""
        with translated("storing a sent code"):
            await self._conn.execute(
                "UPDATE sent_codes SET code_hash = ?, key_id = ?, expires_at = ?, attempts = 0 "
                "WHERE customer_id = ?",
                (code_hash, key_id, expires_at, customer_id),
            )

    async def spend_attempt(self, customer_id: str, code_hash: str, max_attempts: int) -> bool:
        """Count one try at the pending code `code_hash`; False when its tries are spent (or it
        was replaced meanwhile)."""
        with translated("counting a code attempt"):
            cursor = await self._conn.execute(
                "UPDATE sent_codes SET attempts = attempts + 1 WHERE customer_id = ? "
                "AND code_hash = ? AND attempts < ?",
                (customer_id, code_hash, max_attempts),
            )
        return cursor.rowcount == 1

    async def consume(self, customer_id: str, code_hash: str) -> bool:
        """Spend the pending code after a match: a code verifies once (False if already)."""
        with translated("consuming a sent code"):
            cursor = await self._conn.execute(
                "UPDATE sent_codes SET code_hash = '', expires_at = 0 WHERE customer_id = ? "
                "AND code_hash = ?",
                (customer_id, code_hash),
            )
        return cursor.rowcount == 1

    async def close(self) -> None:
        with translated("closing the one-time code state"):
            await self._conn.close()
