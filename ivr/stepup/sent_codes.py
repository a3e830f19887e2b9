"""Codes sent to the customer by SMS or app push: made here, delivered by the provider, kept
only as a keyed hash with an expiry, a cap on tries and a cap on sends.

The hash is an HMAC under the answers' key (`IVR_SECRET_KEY`, ivr.directory.hashing) binding
the customer id, compared in constant time; the pending code sits in the same SQLite file as
the lockout (ivr.directory.otp_state), so whichever worker the next webhook reaches checks it.
A code is burnt by its last wrong try and spent by its first right one.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ivr.directory.hashing import KeyRing, answer_matches, hash_answer
from ivr.directory.otp_state import OtpState
from ivr.stepup.provider import CodeMessage, CodeProvider, Delivery, within

FIELD = "sent_code"  # the hash's field label: a code's hash never equals an answer's
DIGITS = 6


@dataclass(frozen=True, slots=True)
class SentCodePolicy:
    ttl_s: int = 300
    max_attempts: int = 3
    max_sends: int = 3
    send_window_s: int = 900
    deadline_s: float = 1.5  # the provider's share of the operation's deadline


class SendResult(StrEnum):
    SENT = "sent"
    NOT_ENROLLED = "not_enrolled"
    LIMITED = "locked"  # the resend limit is reached for now


class CodeCheck(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"  # none pending, past its TTL, or burnt by its tries


def new_code() -> str:
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


class SentCodes:
    def __init__(
        self,
        state: OtpState,
        keys: KeyRing,
        provider: CodeProvider | None,
        policy: SentCodePolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.keys = keys
        self.provider = provider
        self.policy = policy or SentCodePolicy()
        self.clock = clock

    async def send(self, customer_id: str, channel: str) -> SendResult:
        """Make a code, keep its hash, have the provider deliver it (ProviderError if not)."""
        assert self.provider is not None
        policy, now = self.policy, self.clock()
        if not await self.state.reserve_send(
            customer_id, now, policy.max_sends, policy.send_window_s
        ):
            return SendResult.LIMITED
        code = new_code()
        key = self.keys.current
        code_hash = hash_answer(FIELD, customer_id, code, key.secret)
        await self.state.store_code(customer_id, code_hash, key.id, now + policy.ttl_s)
        message = CodeMessage(customer_id, channel, code, policy.ttl_s, uuid.uuid4().hex)
        try:
            delivered = await within(policy.deadline_s, self.provider, message)
        except BaseException:
            await self.state.consume(customer_id, code_hash)  # never delivered: not usable
            raise
        if delivered is Delivery.NOT_ENROLLED:
            await self.state.consume(customer_id, code_hash)
            return SendResult.NOT_ENROLLED
        return SendResult.SENT

    async def check(self, customer_id: str, code: str) -> CodeCheck:
        pending = await self.state.pending(customer_id)
        if pending is None or not pending.code_hash or pending.expires_at <= self.clock():
            return CodeCheck.EXPIRED
        key = self.keys.get(pending.key_id)
        if key is None:
            raise LookupError("the sent code's key is no longer configured")
        if not await self.state.spend_attempt(
            customer_id, pending.code_hash, self.policy.max_attempts
        ):
            return CodeCheck.EXPIRED
        typed = "".join(code.split())
        if not answer_matches(FIELD, customer_id, typed, pending.code_hash, key.secret):
            return CodeCheck.WRONG
        if not await self.state.consume(customer_id, pending.code_hash):
            return CodeCheck.EXPIRED  # another call spent it a moment ago
        return CodeCheck.VERIFIED
