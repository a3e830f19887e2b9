"""Callbacks in the journal database: booking, changes, dialling transitions, sealed secrets.

Every change is one transaction that also appends a `callback_events` row (the callback's own
journal: status and a short detail, never the secret). A change names the version it read
(optimistic concurrency: the app's If-Match); the scheduler claims a due callback with a
compare-and-set on its status, so two workers never dial the same one. A secret is deleted
in the same transaction that ends its callback.
"""

from __future__ import annotations

import json
import secrets as _random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ivr.callbacks.crypto import Sealed, SecretBox
from ivr.callbacks.db import Database, Tx
from ivr.callbacks.model import CHANGEABLE, TERMINAL, Status

COLUMNS = (
    "id, customer_id, customer_name, number, queue, reason, language, window_start, window_end,"
    " time_zone, scheduled_at, status, attempts, max_attempts, retry_delay_s, next_attempt_at,"
    " idv_status, source, secret_kid, secret_ct, read_secret, version, idempotency_key,"
    " request_hash, call_id, outcome, created_at, updated_at, connected_at, ended_at"
)


@dataclass(slots=True)
class Callback:
    """A stored callback row; `secret_ct` is ciphertext and leaves this module only to be opened."""

    id: str
    customer_id: str
    customer_name: str | None
    number: str
    queue: str
    reason: str | None
    language: str | None
    window_start: float
    window_end: float
    time_zone: str
    scheduled_at: float
    status: str
    attempts: int
    max_attempts: int
    retry_delay_s: int
    next_attempt_at: float | None
    idv_status: str
    source: str
    secret_kid: str | None
    secret_ct: bytes | None
    read_secret: int  # 0: none; 1: the callback's own secret; 2: the customer's standing secret
    version: int
    idempotency_key: str | None
    request_hash: str | None
    call_id: str | None
    outcome: str | None
    created_at: float
    updated_at: float
    connected_at: float | None
    ended_at: float | None

    def __repr__(self) -> str:  # a stray log of a callback shows no ciphertext or hash
        return f"Callback(id={self.id!r}, status={self.status!r}, version={self.version})"

    @property
    def secret_source(self) -> str | None:
        return {1: "callback", 2: "standing"}.get(self.read_secret)


OWN_SECRET, STANDING_SECRET = 1, 2
# when a callback is due, decided inside the transaction that stores it (slot capacity)
Place = Callable[[Tx], Awaitable[float]] | None


class NotFound(LookupError):
    """No such callback for this customer (another customer's callback is not found either)."""


class VersionMismatch(Exception):
    """The callback changed since the version the caller read (If-Match failed)."""

    def __init__(self, current: Callback) -> None:
        super().__init__("callback changed")
        self.current = current


class NotChangeable(Exception):
    """The callback is dialling or has ended: it can no longer be changed or cancelled."""

    def __init__(self, current: Callback) -> None:
        super().__init__(f"callback is {current.status}")
        self.current = current


class IdempotencyConflict(Exception):
    """An Idempotency-Key was used before with another request body."""


def new_id() -> str:
    return "cb_" + _random.token_hex(10)


def _row(row: Sequence[Any]) -> Callback:
    values = list(row)
    values[19] = bytes(values[19]) if values[19] is not None else None
    return Callback(*values)


class CallbackStore:
    def __init__(self, db: Database, box: SecretBox | None) -> None:
        self.db = db
        self.box = box

    # -- reading ----------------------------------------------------------------------------

    async def get(self, callback_id: str, customer_id: str | None = None) -> Callback:
        """The callback; NotFound when it does not exist or belongs to another customer."""
        found = await _get(self.db, callback_id, customer_id)
        if found is None:
            raise NotFound(callback_id)
        return found

    async def by_idempotency_key(self, customer_id: str, key: str) -> Callback | None:
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM callbacks WHERE customer_id = :c AND idempotency_key = :k",
            {"c": customer_id, "k": key},
        )
        return _row(rows[0]) if rows else None

    async def find(
        self,
        customer_id: str | None,
        status: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        before: tuple[float, str] | None = None,
    ) -> list[Callback]:
        """Newest first; `start`/`end` bound the window start; `before` pages (created_at, id)."""
        clauses: list[str] = ["1 = 1"]
        params: dict[str, Any] = {"limit": limit}
        if customer_id is not None:
            clauses.append("customer_id = :customer")
            params["customer"] = customer_id
        if status:
            marks = []
            for i, value in enumerate(status):
                params[f"s{i}"] = value
                marks.append(f":s{i}")
            clauses.append(f"status IN ({', '.join(marks)})")
        if start is not None:
            clauses.append("window_start >= :start")
            params["start"] = float(start)
        if end is not None:
            clauses.append("window_start < :end")
            params["end"] = float(end)
        if before is not None:
            clauses.append("(created_at < :b_at OR (created_at = :b_at AND id < :b_id))")
            params["b_at"], params["b_id"] = float(before[0]), before[1]
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM callbacks WHERE {' AND '.join(clauses)}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            params,
        )
        return [_row(row) for row in rows]

    async def booked_between(self, queue: str, start: float, end: float) -> int:
        rows = await self.db.fetch(
            "SELECT COUNT(*) FROM callbacks WHERE queue = :q AND scheduled_at >= :a"
            " AND scheduled_at < :b AND status IN ('requested', 'scheduled', 'dialling')",
            {"q": queue, "a": float(start), "b": float(end)},
        )
        return int(rows[0][0])

    async def events(self, callback_id: str) -> list[tuple[int, float, str, dict[str, Any]]]:
        rows = await self.db.fetch(
            "SELECT seq, at, status, detail FROM callback_events WHERE callback_id = :id"
            " ORDER BY seq",
            {"id": callback_id},
        )
        return [(int(r[0]), float(r[1]), str(r[2]), json.loads(r[3] or "{}")) for r in rows]

    # -- booking and the app's changes -----------------------------------------------------

    async def insert(
        self, callback: Callback, secret: str | None, detail: dict[str, Any], place: Place = None
    ) -> None:
        """Store a new callback (its secret sealed) and journal requested -> scheduled;
        `place`, in the same transaction, says when it is due (capacity.py)."""
        if secret is not None:
            sealed = self.require_box().seal(secret, callback.id)
            callback.secret_kid, callback.secret_ct = sealed.key_id, sealed.blob
        async with self.db.transaction() as tx:
            if place is not None:
                callback.scheduled_at = callback.next_attempt_at = await place(tx)
            marks = ", ".join(f":{f.name}" for f in fields(Callback))
            values = {f.name: getattr(callback, f.name) for f in fields(Callback)}
            await tx.execute(f"INSERT INTO callbacks ({COLUMNS}) VALUES ({marks})", values)
            await _event(tx, callback.id, callback.created_at, Status.REQUESTED, detail)
            if callback.status == Status.SCHEDULED:
                at = {"scheduled_at": callback.scheduled_at}
                await _event(tx, callback.id, callback.created_at, Status.SCHEDULED, at)

    async def change(
        self,
        callback_id: str,
        customer_id: str,
        version: int,
        values: dict[str, Any],
        secret: str | None | bool,
        now: float,
        place: Place = None,
    ) -> Callback:
        """Apply `values` (columns) if the callback is still at `version` and changeable.
        `secret`: a new secret, None to remove it, False to leave it as it is; `place`, when
        it is rescheduled, says when it is due (capacity.py, same transaction)."""
        async with self.db.transaction() as tx:
            current = await _get(tx, callback_id, customer_id)
            if current is None:
                raise NotFound(callback_id)
            if current.version != version:
                raise VersionMismatch(current)
            if current.status not in CHANGEABLE:
                raise NotChangeable(current)
            changes = dict(values)
            if place is not None:
                at = await place(tx)
                changes.update(scheduled_at=at, next_attempt_at=at)
            if secret is None:
                changes.update(secret_kid=None, secret_ct=None, read_secret=0)
            elif secret is not False:
                sealed = self.require_box().seal(str(secret), callback_id)
                changes.update(secret_kid=sealed.key_id, secret_ct=sealed.blob)
                changes["read_secret"] = OWN_SECRET
            await _update(tx, current, changes, now)
            detail = {"changed": sorted(k for k in changes if not k.startswith("secret_"))}
            await _event(tx, callback_id, now, Status(current.status), detail)
            found = await _get(tx, callback_id, customer_id)
            assert found is not None
            return found

    async def cancel(self, callback_id: str, customer_id: str, now: float) -> Callback:
        async with self.db.transaction() as tx:
            current = await _get(tx, callback_id, customer_id)
            if current is None:
                raise NotFound(callback_id)
            if current.status == Status.CANCELLED:
                return current  # cancelling twice is the same as once
            if current.status not in CHANGEABLE:
                raise NotChangeable(current)
            await _finish(tx, current, Status.CANCELLED, "cancelled by customer", now)
            found = await _get(tx, callback_id, customer_id)
            assert found is not None
            return found

    # -- dispatch -------------------------------------------------------------------------

    async def due(self, now: float, limit: int = 20) -> list[Callback]:
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM callbacks WHERE status = 'scheduled'"
            " AND next_attempt_at <= :now ORDER BY next_attempt_at, id LIMIT :limit",
            {"now": float(now), "limit": limit},
        )
        return [_row(row) for row in rows]

    async def overdue_dialling(self, before: float) -> list[Callback]:
        """Callbacks left dialling since before `before` (a worker died mid-dial)."""
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM callbacks WHERE status = 'dialling' AND updated_at < :t",
            {"t": float(before)},
        )
        return [_row(row) for row in rows]

    async def transition(
        self,
        callback: Callback,
        to: Status,
        now: float,
        detail: dict[str, Any],
        **values: Any,
    ) -> Callback | None:
        """Move `callback` to `to` if it is still at the version read (else None: someone else
        moved it). Ending it deletes its secret."""
        try:
            async with self.db.transaction() as tx:
                current = await _get(tx, callback.id, None)
                if current is None or current.version != callback.version:
                    return None
                if to in TERMINAL:
                    values.setdefault("ended_at", float(now))
                    values.update(secret_kid=None, secret_ct=None)
                await _update(tx, current, {"status": str(to), **values}, now)
                await _event(tx, callback.id, now, to, detail)
                return await _get(tx, callback.id, None)
        except VersionMismatch:  # another worker's update landed between our read and write
            return None

    async def expire(self, now: float) -> list[Callback]:
        """Scheduled callbacks whose window has passed: expired, secret deleted."""
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM callbacks WHERE status IN ('requested', 'scheduled')"
            " AND window_end <= :now",
            {"now": float(now)},
        )
        done = []
        for row in rows:
            moved = await self.transition(
                _row(row), Status.EXPIRED, now, {"reason": "window passed"}, outcome="expired"
            )
            if moved is not None:
                done.append(moved)
        return done

    # -- secrets ------------------------------------------------------------------------------

    async def secret(self, callback: Callback) -> str | None:
        """The secret to read to the customer on this callback, opened; None if there is none."""
        if callback.read_secret == OWN_SECRET and callback.secret_kid and callback.secret_ct:
            return self.require_box().open(
                Sealed(callback.secret_kid, callback.secret_ct), callback.id
            )
        if callback.read_secret == STANDING_SECRET:
            return await self.standing_secret(callback.customer_id)
        return None

    async def standing_secret(self, customer_id: str) -> str | None:
        rows = await self.db.fetch(
            "SELECT secret_kid, secret_ct FROM standing_secrets WHERE customer_id = :c",
            {"c": customer_id},
        )
        if not rows:
            return None
        return self.require_box().open(
            Sealed(rows[0][0], bytes(rows[0][1])), "standing:" + customer_id
        )

    async def has_standing_secret(self, customer_id: str) -> bool:
        rows = await self.db.fetch(
            "SELECT 1 FROM standing_secrets WHERE customer_id = :c", {"c": customer_id}
        )
        return bool(rows)

    async def set_standing_secret(self, customer_id: str, secret: str, now: float) -> None:
        sealed = self.require_box().seal(secret, "standing:" + customer_id)
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM standing_secrets WHERE customer_id = :c", {"c": customer_id}
            )
            await tx.execute(
                "INSERT INTO standing_secrets (customer_id, secret_kid, secret_ct, updated_at)"
                " VALUES (:c, :k, :b, :t)",
                {"c": customer_id, "k": sealed.key_id, "b": sealed.blob, "t": float(now)},
            )

    async def delete_standing_secret(self, customer_id: str) -> bool:
        deleted = await self.db.execute(
            "DELETE FROM standing_secrets WHERE customer_id = :c", {"c": customer_id}
        )
        return deleted > 0

    async def rekey(self) -> int:
        """Reseal every stored secret with the current key; the number resealed."""
        box = self.require_box()
        count = 0
        rows = await self.db.fetch(
            "SELECT id, secret_kid, secret_ct FROM callbacks WHERE secret_kid IS NOT NULL"
            " AND secret_kid <> :k",
            {"k": box.current},
        )
        for callback_id, kid, blob in rows:
            sealed = box.seal(box.open(Sealed(kid, bytes(blob)), callback_id), callback_id)
            count += await self.db.execute(
                "UPDATE callbacks SET secret_kid = :k, secret_ct = :b WHERE id = :id"
                " AND secret_kid = :old",
                {"k": sealed.key_id, "b": sealed.blob, "id": callback_id, "old": kid},
            )
        rows = await self.db.fetch(
            "SELECT customer_id, secret_kid, secret_ct FROM standing_secrets"
            " WHERE secret_kid <> :k",
            {"k": box.current},
        )
        for customer_id, kid, blob in rows:
            bound = "standing:" + customer_id
            sealed = box.seal(box.open(Sealed(kid, bytes(blob)), bound), bound)
            count += await self.db.execute(
                "UPDATE standing_secrets SET secret_kid = :k, secret_ct = :b"
                " WHERE customer_id = :c AND secret_kid = :old",
                {"k": sealed.key_id, "b": sealed.blob, "c": customer_id, "old": kid},
            )
        return count

    def request_hash(self, body: bytes) -> str:
        """A keyed hash of a request body (it may hold a secret), for idempotent replays."""
        return self.require_box().keyed_hash(body)

    def require_box(self) -> SecretBox:
        if self.box is None:
            raise RuntimeError("no callback key configured (IVR_CALLBACK_KEYS)")
        return self.box


async def _get(db: Tx, callback_id: str, customer_id: str | None) -> Callback | None:
    sql = f"SELECT {COLUMNS} FROM callbacks WHERE id = :id"
    params: dict[str, Any] = {"id": callback_id}
    if customer_id is not None:
        sql += " AND customer_id = :customer"
        params["customer"] = customer_id
    rows = await db.fetch(sql, params)
    return _row(rows[0]) if rows else None


async def _update(tx: Tx, current: Callback, changes: dict[str, Any], now: float) -> None:
    sets = ", ".join(f"{name} = :{name}" for name in changes)
    params = {**changes, "id": current.id, "version": current.version, "now": float(now)}
    changed = await tx.execute(
        f"UPDATE callbacks SET {sets}, version = version + 1, updated_at = :now"
        " WHERE id = :id AND version = :version",
        params,
    )
    if changed != 1:
        raise VersionMismatch(current)


async def _finish(tx: Tx, current: Callback, to: Status, reason: str, now: float) -> None:
    changes = {"status": str(to), "ended_at": float(now), "secret_kid": None, "secret_ct": None}
    changes["outcome"] = str(to)
    await _update(tx, current, changes, now)
    await _event(tx, current.id, now, to, {"reason": reason})


async def _event(
    tx: Tx, callback_id: str, at: float, status: Status, detail: dict[str, Any]
) -> None:
    await tx.execute(
        "INSERT INTO callback_events (callback_id, seq, at, status, detail)"
        " SELECT CAST(:id AS TEXT), COALESCE(MAX(seq), 0) + 1, CAST(:at AS DOUBLE PRECISION),"
        " CAST(:status AS TEXT), CAST(:detail AS TEXT) FROM callback_events"
        " WHERE callback_id = :id",
        {"id": callback_id, "at": float(at), "status": str(status), "detail": json.dumps(detail)},
    )
