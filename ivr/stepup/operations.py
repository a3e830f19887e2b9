"""Flow operations for one-time codes: `verify.otp` and `otp.send`.

Wrong codes count in the same lockout as security answers: each try is reserved in the
directory's lockout state before it is checked (ivr.directory.lockout.guarded_verify), and the
server's fair lockout (ivr.limits) wraps `verify.otp` as it wraps `verify.answer`. Nothing an
operation returns holds the code: the journal gets the outcome and a short reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ivr.callbacks.crypto import SecretUnreadable
from ivr.directory.lockout import LockoutPolicy, LockoutState, guarded_verify
from ivr.directory.port import VerifyStatus
from ivr.engine.operations import ERROR_OUTCOME, Operation, OperationCall, OperationResult
from ivr.stepup.metrics import OTP_CHECKS, OTP_SENDS, PROVIDER_ERRORS
from ivr.stepup.provider import CHANNELS, ProviderError
from ivr.stepup.sent_codes import CodeCheck, SendResult, SentCodes
from ivr.stepup.totp import TotpCheck, TotpVerifier

_log = logging.getLogger(__name__)
TOTP_FACTOR = "totp"
SENT_FACTOR = "sent_code"


@dataclass
class Lockout:
    state: LockoutState
    policy: LockoutPolicy
    clock: Callable[[], float] = time.time

    async def guard(
        self, customer_id: str, check: Callable[[], Awaitable[VerifyStatus]]
    ) -> VerifyStatus:
        return await guarded_verify(self.state, self.policy, self.clock, customer_id, check)


@dataclass
class OneTimeCodes:
    """What the operations need; `sent` is None when no provider is configured."""

    totp: TotpVerifier
    sent: SentCodes | None
    lockout: Lockout | None

    async def verify(self, customer_id: str, method: str, code: str) -> str:
        """The outcome of one try: verified, wrong, expired, locked or not_enrolled."""
        found: dict[str, str] = {}

        async def check() -> VerifyStatus:
            if method == "sent":
                if self.sent is None:
                    raise LookupError("no code provider configured")
                result = await self.sent.check(customer_id, code)
                found["outcome"] = result.value
                if result is CodeCheck.EXPIRED:  # revealed nothing: not counted
                    return VerifyStatus.NOT_ENROLLED
                return VerifyStatus(result.value)
            totp = await self.totp.check(customer_id, code)
            found["outcome"] = totp.value
            return VerifyStatus.WRONG if totp is TotpCheck.REPLAYED else VerifyStatus(totp.value)

        if self.lockout is None:
            status = await check()
        else:
            status = await self.lockout.guard(customer_id, check)
        if status is VerifyStatus.LOCKED:
            return "locked"
        return found.get("outcome", status.value)


def otp_operations(codes: OneTimeCodes) -> dict[str, Operation]:
    async def verify_otp(call: OperationCall) -> OperationResult:
        if call.customer_id is None:
            return OperationResult(ERROR_OUTCOME, detail="no identified customer to verify")
        method = str(call.params.get("method", "totp"))
        try:
            outcome = await codes.verify(call.customer_id, method, call.digits or "")
        except SecretUnreadable:
            OTP_CHECKS.labels(method, ERROR_OUTCOME).inc()
            _log.error("TOTP secret of a customer does not open: is its IVR_OTP_KEYS key gone?")
            return OperationResult(ERROR_OUTCOME, detail="secret unreadable")
        OTP_CHECKS.labels(method, "wrong" if outcome == "replayed" else outcome).inc()
        if outcome == "replayed":
            return OperationResult("wrong", detail="time step already used")
        factor = SENT_FACTOR if method == "sent" else TOTP_FACTOR
        if outcome == "verified":
            return OperationResult("verified", detail=method, factors=(factor,))
        return OperationResult(outcome, detail=method)

    async def send(call: OperationCall) -> OperationResult:
        if call.customer_id is None:
            return OperationResult(ERROR_OUTCOME, detail="no identified customer")
        if codes.sent is None or codes.sent.provider is None:
            OTP_SENDS.labels(ERROR_OUTCOME).inc()
            return OperationResult(ERROR_OUTCOME, detail="no code provider configured")
        channel = str(call.params.get("channel", "sms"))
        if channel not in CHANNELS:
            return OperationResult(ERROR_OUTCOME, detail="unknown channel")
        try:
            result = await codes.sent.send(call.customer_id, channel)
        except ProviderError as error:
            OTP_SENDS.labels(ERROR_OUTCOME).inc()
            PROVIDER_ERRORS.labels(error.reason).inc()
            _log.warning("code provider failed (%s); the caller is routed on", error.reason)
            return OperationResult(ERROR_OUTCOME, detail=f"provider {error.reason}")
        OTP_SENDS.labels(result.value).inc()
        if result is SendResult.LIMITED:
            return OperationResult("locked", detail="resend limit reached")
        return OperationResult(result.value, detail=channel)

    async def enrolled(call: OperationCall) -> OperationResult:
        if call.customer_id is None:
            return OperationResult(ERROR_OUTCOME, detail="no identified customer")
        known = await codes.totp.is_enrolled(call.customer_id)
        return OperationResult("enrolled" if known else "not_enrolled")

    return {"verify.otp": verify_otp, "otp.send": send, "otp.enrolled": enrolled}
