"""Agent-initiated step-up (seed 000's "smart PIN"): the agent asks, the customer answers with
the code of their authenticator (or a code texted to them) in the app or by keypad, the agent
gets the result and a validation token. The code is checked and forgotten: it appears in no
answer, log, journal record or metric, only its outcome does.

A challenge allows `max_tries` answers and lives `ttl_s`; each answer is checked by the same
`verify` as the flows' `verify.otp` (the same lockout), so the app is no side door for guessing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ivr.stepup.challenges import Status, StepUp, StepUpStore
from ivr.stepup.metrics import STEP_UPS
from ivr.stepup.tokens import ValidationTokens
from ivr.tokens import TokenError

_log = logging.getLogger(__name__)
# (customer id, method, code, answered by) -> verified, wrong, expired, locked, not_enrolled
Verify = Callable[[str, str, str, str], Awaitable[str]]
Notify = Callable[[dict[str, Any]], None]


class StepUpRefused(Exception):
    """The request cannot be met (the message is safe to send back); `status` is the HTTP
    answer: 422 the customer cannot answer, 429 a limit is reached for now."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class AlreadyUsed(TokenError):
    def __init__(self) -> None:
        super().__init__("already used")


@dataclass(frozen=True, slots=True)
class StepUpPolicy:
    ttl_s: float = 180.0  # the customer has this long to answer
    max_tries: int = 3


@dataclass(frozen=True, slots=True)
class Answer:
    step_up: StepUp
    outcome: str  # verified, wrong, failed, expired, locked, not_enrolled


class StepUpService:
    def __init__(
        self,
        store: StepUpStore,
        verify: Verify,
        tokens: ValidationTokens,
        notify: Notify = lambda body: None,
        policy: StepUpPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.verify = verify
        self.tokens = tokens
        self.notify = notify
        self.policy = policy or StepUpPolicy()
        self.clock = clock

    async def start(
        self, customer_id: str, call_id: str | None, method: str, audience: str, reason: str | None
    ) -> StepUp:
        step_up = await self.store.create(
            customer_id, call_id, method, audience, reason, self.clock(), self.policy.ttl_s
        )
        STEP_UPS.labels("started").inc()
        return step_up

    async def current(self, step_up_id: str) -> StepUp | None:
        """The challenge as it stands (a pending one past its time is settled as expired)."""
        step_up = await self.store.get(step_up_id)
        if step_up is None or step_up.status is not Status.PENDING:
            return step_up
        if step_up.expires_at <= self.clock() and await self.store.expire(step_up.id, self.clock()):
            return await self._settled(step_up.id)
        return step_up

    async def answer(
        self, step_up: StepUp, code: str, by: str, verify: Verify | None = None
    ) -> Answer:
        """Check one answer (with `verify`, else the service's own check); settle the
        challenge when it is final."""
        now = self.clock()
        if step_up.status is not Status.PENDING:
            return Answer(step_up, step_up.status.value)
        if not await self.store.count_try(step_up.id, self.policy.max_tries, now):
            current = await self.current(step_up.id)
            assert current is not None
            return Answer(current, current.status.value)
        outcome = await (verify or self.verify)(step_up.customer_id, step_up.method, code, by)
        if outcome not in ("verified", "wrong", "locked", "not_enrolled", "expired"):
            fresh = await self.store.get(step_up.id)  # the check itself failed: not settled
            return Answer(fresh or step_up, "error")
        final = {
            "verified": Status.VERIFIED,
            "locked": Status.LOCKED,
            "not_enrolled": Status.NOT_ENROLLED,
            "expired": Status.EXPIRED,  # a sent code that expired: this challenge too
        }.get(outcome)
        if final is None and step_up.tries + 1 >= self.policy.max_tries:
            final = Status.FAILED
        if final is None:
            STEP_UPS.labels("wrong").inc()
            fresh = await self.store.get(step_up.id)
            return Answer(fresh or step_up, "wrong")
        jti = self.tokens.new_jti() if final is Status.VERIFIED else None  # token made on read
        if not await self.store.settle(step_up.id, final, self.clock(), by, jti):
            current = await self.current(step_up.id)
            assert current is not None
            return Answer(current, current.status.value)
        settled = await self._settled(step_up.id)
        return Answer(settled, final.value if outcome != "wrong" else "failed")

    async def _settled(self, step_up_id: str) -> StepUp:
        step_up = await self.store.get(step_up_id)
        assert step_up is not None
        STEP_UPS.labels(step_up.status.value).inc()
        self.notify(self.view(step_up))
        return step_up

    def view(self, step_up: StepUp) -> dict[str, Any]:
        """What the agent desktop sees: never the code; the token while it is unused."""
        body: dict[str, Any] = {
            "id": step_up.id,
            "status": step_up.status.value,
            "customer_id": step_up.customer_id,
            "call_id": step_up.call_id,
            "method": step_up.method,
            "audience": step_up.audience,
            "tries": step_up.tries,
            "created_at": step_up.created_at,
            "expires_at": step_up.expires_at,
            "settled_at": step_up.settled_at,
            "answered_by": step_up.answered_by,
        }
        token = self.token_for(step_up)
        if token is not None:
            body["validation_token"] = token
        return body

    def token_for(self, step_up: StepUp) -> str | None:
        """The validation token of a verified challenge (made again from its recorded jti and
        time) while it is unused and unexpired; None otherwise."""
        if step_up.status is not Status.VERIFIED or step_up.token_jti is None:
            return None
        issued = step_up.settled_at or self.clock()
        if step_up.token_used_at is not None or issued + self.tokens.ttl_s <= self.clock():
            return None
        return self.tokens.issue(step_up, step_up.token_jti, issued)

    async def redeem(self, token: str, audience: str) -> dict[str, Any]:
        """Check a validation token for `audience` and spend it; TokenError if refused."""
        claims = self.tokens.check(token, audience)
        if not await self.store.use_token(str(claims["jti"]), self.clock()):
            raise AlreadyUsed()
        STEP_UPS.labels("token_redeemed").inc()
        return claims
