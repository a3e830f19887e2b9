"""TOTP codes from the customer's authenticator app or bank token, checked with pyotp.

The enrolment secret must be read back to compute codes, so it cannot be hashed: it is sealed
with AES-GCM under `IVR_OTP_KEYS` (ivr.callbacks.crypto's rotatable box), bound to the customer
id so a sealed secret copied onto another customer does not open. A code's time step is
claimed once per customer (ivr.directory.otp_state), so a code overheard or replayed within its
step is refused; the drift window (`IVR_OTP_DRIFT_STEPS`) accepts a clock a step or so off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import pyotp

from ivr.callbacks.crypto import Sealed, SecretBox
from ivr.directory.otp_state import OtpState, normalise_secret, totp_binding

__all__ = ["TotpCheck", "TotpVerifier", "code_at", "matching_step", "normalise_secret"]

DIGITS = 6


class TotpCheck(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    REPLAYED = "replayed"  # right code, but its time step was already used
    NOT_ENROLLED = "not_enrolled"


def matching_step(secret: str, code: str, now: float, drift_steps: int) -> int | None:
    """The time step whose code `code` is, within `drift_steps` of now; None if none."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    try:
        return pyotp.TOTP(secret).verify_and_get_timecode(
            code, for_time=now, valid_window=drift_steps
        )
    except pyotp.exceptions.OTPVerificationError:
        return None


def code_at(secret: str, now: float) -> str:
    """The code an authenticator shows at `now` (development: `ivr customers totp-code`)."""
    return pyotp.TOTP(secret).at(now)


class TotpVerifier:
    """Checks codes against sealed enrolments and claims each time step once."""

    def __init__(
        self,
        state: OtpState,
        box: SecretBox,
        drift_steps: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.box = box
        self.drift_steps = drift_steps
        self.clock = clock

    async def enrol(self, customer_id: str, secret: str) -> None:
        sealed = self.box.seal(normalise_secret(secret), totp_binding(customer_id))
        await self.state.enrol(customer_id, sealed.key_id, sealed.blob)

    async def is_enrolled(self, customer_id: str) -> bool:
        return await self.state.enrolment(customer_id) is not None

    async def secret(self, customer_id: str) -> str | None:
        """The opened secret (SecretUnreadable when its key is gone); None: not enrolled."""
        enrolment = await self.state.enrolment(customer_id)
        if enrolment is None:
            return None
        secret = self.box.open(
            Sealed(enrolment.key_id, enrolment.sealed), totp_binding(customer_id)
        )
        if enrolment.key_id != self.box.current:  # rotation: reseal under the newest key
            sealed = self.box.seal(secret, totp_binding(customer_id))
            await self.state.reseal(customer_id, enrolment.key_id, sealed.key_id, sealed.blob)
        return secret

    async def check(self, customer_id: str, code: str) -> TotpCheck:
        secret = await self.secret(customer_id)
        if secret is None:
            return TotpCheck.NOT_ENROLLED
        step = matching_step(secret, "".join(code.split()), self.clock(), self.drift_steps)
        if step is None:
            return TotpCheck.WRONG
        if not await self.state.use_step(customer_id, step):
            return TotpCheck.REPLAYED
        return TotpCheck.VERIFIED
