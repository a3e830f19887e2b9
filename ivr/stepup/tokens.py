"""The validation token a verified step-up hands to the agent desktop: a short-lived JWT
(HS256 pinned, PyJWT's public API) whose audience is the system that will rely on it, used once.

The audience is always `step-up:<name>`: no step-up token can pass for a visual-IVR token
(audience `visual-ivr`) or for another system's step-up. Single use is enforced where the
token is checked (StepUpService.redeem), against its `jti` in the step-up store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from ivr.stepup.challenges import StepUp
from ivr.tokens import TokenError

ALGORITHM = "HS256"
ISSUER = "ivr"
DEFAULT_TTL_S = 120


def audience_of(name: str) -> str:
    return f"step-up:{name}"


@dataclass
class ValidationTokens:
    key: str = field(repr=False)
    ttl_s: int = DEFAULT_TTL_S
    clock: Callable[[], float] = time.time

    @staticmethod
    def new_jti() -> str:
        return uuid.uuid4().hex

    def issue(self, step_up: StepUp, jti: str, issued_at: float) -> str:
        """The token of a verified challenge: the same `jti` and time give the same token, so
        every poll of the challenge shows one token, spendable once."""
        now = int(issued_at)
        claims = {
            "iss": ISSUER,
            "aud": audience_of(step_up.audience),
            "sub": step_up.customer_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "jti": jti,
            "step_up": step_up.id,
            "call_id": step_up.call_id,
            "result": "verified",
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)

    def check(self, token: str, audience: str) -> dict[str, Any]:
        """Signature, algorithm, audience, issuer and lifetime; TokenError says what failed."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=audience_of(audience),
                issuer=ISSUER,
                options={"require": ["exp", "iat", "aud", "iss", "jti", "sub"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError("wrong audience") from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad signature") from None
        except jwt.PyJWTError as error:
            raise TokenError(f"invalid token: {type(error).__name__}") from None
        return claims
