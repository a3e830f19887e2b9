"""Step-up challenges in the journal database: created by an agent, settled once.

Every state change is one conditional UPDATE (`WHERE status = 'pending'`), so an app answer
and a keypad answer arriving together on two workers settle a challenge once; the validation
token's single use is the same kind of UPDATE on its `jti`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ivr.callbacks.db import Database, Row

COLUMNS = (
    "id, customer_id, call_id, method, audience, reason, status, tries, created_at, "
    "expires_at, settled_at, answered_by, token_jti, token_used_at"
)


class Status(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"  # the tries ran out
    EXPIRED = "expired"  # nobody answered in time
    LOCKED = "locked"  # the customer is locked out (too many wrong answers or codes)
    NOT_ENROLLED = "not_enrolled"  # no authenticator on file when it was answered


@dataclass(frozen=True, slots=True)
class StepUp:
    id: str
    customer_id: str
    call_id: str | None
    method: str
    audience: str
    reason: str | None
    status: Status
    tries: int
    created_at: float
    expires_at: float
    settled_at: float | None
    answered_by: str | None  # app or keypad
    token_jti: str | None
    token_used_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> StepUp:
        values: list[Any] = list(row)
        values[6] = Status(values[6])
        return cls(*values)


class StepUpStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        customer_id: str,
        call_id: str | None,
        method: str,
        audience: str,
        reason: str | None,
        now: float,
        ttl_s: float,
    ) -> StepUp:
        step_up = StepUp(
            f"su_{uuid.uuid4().hex}", customer_id, call_id, method, audience, reason,
            Status.PENDING, 0, now, now + ttl_s, None, None, None, None,
        )  # fmt: skip
        await self.db.execute(
            f"INSERT INTO step_ups ({COLUMNS}) VALUES (:id, :customer_id, :call_id, :method, "
            ":audience, :reason, 'pending', 0, :created_at, :expires_at, NULL, NULL, NULL, NULL)",
            {
                "id": step_up.id, "customer_id": customer_id, "call_id": call_id,
                "method": method, "audience": audience, "reason": reason,
                "created_at": now, "expires_at": step_up.expires_at,
            },
        )  # fmt: skip
        return step_up

    async def get(self, step_up_id: str) -> StepUp | None:
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM step_ups WHERE id = :id", {"id": step_up_id}
        )
        return StepUp.from_row(rows[0]) if rows else None

    async def pending_for(
        self, call_id: str | None, customer_id: str | None, now: float
    ) -> StepUp | None:
        """The newest pending, unexpired challenge of the call (else of the customer)."""
        for column, value in (("call_id", call_id), ("customer_id", customer_id)):
            if not value:
                continue
            rows = await self.db.fetch(
                f"SELECT {COLUMNS} FROM step_ups WHERE {column} = :value AND status = 'pending' "
                "AND expires_at > :now ORDER BY created_at DESC LIMIT 1",
                {"value": value, "now": now},
            )
            if rows:
                return StepUp.from_row(rows[0])
        return None

    async def expire(self, step_up_id: str, now: float) -> bool:
        """Settle a pending challenge past its time as expired; False if it was not."""
        changed = await self.db.execute(
            "UPDATE step_ups SET status = 'expired', settled_at = :now WHERE id = :id "
            "AND status = 'pending' AND expires_at <= :now",
            {"id": step_up_id, "now": now},
        )
        return changed == 1

    async def count_try(self, step_up_id: str, max_tries: int, now: float) -> bool:
        """Take one try at a pending, unexpired challenge; False when none is left."""
        changed = await self.db.execute(
            "UPDATE step_ups SET tries = tries + 1 WHERE id = :id AND status = 'pending' "
            "AND tries < :max AND expires_at > :now",
            {"id": step_up_id, "max": max_tries, "now": now},
        )
        return changed == 1

    async def settle(
        self,
        step_up_id: str,
        status: Status,
        now: float,
        answered_by: str | None,
        token_jti: str | None = None,
    ) -> bool:
        """Move a pending challenge to its final state; False if another answer settled it."""
        changed = await self.db.execute(
            "UPDATE step_ups SET status = :status, settled_at = :now, answered_by = :by, "
            "token_jti = :jti WHERE id = :id AND status = 'pending'",
            {"id": step_up_id, "status": status.value, "now": now, "by": answered_by,
             "jti": token_jti},
        )  # fmt: skip
        return changed == 1

    async def use_token(self, jti: str, now: float) -> bool:
        """Spend a validation token: True the first time only."""
        changed = await self.db.execute(
            "UPDATE step_ups SET token_used_at = :now WHERE token_jti = :jti "
            "AND token_used_at IS NULL",
            {"jti": jti, "now": now},
        )
        return changed == 1

    async def ping(self) -> None:
        await self.db.fetch("SELECT 1 FROM step_ups LIMIT 1")
