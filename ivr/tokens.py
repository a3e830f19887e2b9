"""Signed ID&V tokens for a visual IVR, so a caller verified on the phone is not asked again.

A JWT (HS256 pinned) with audience `visual-ivr`, a short lifetime, the call id, customer id,
ID&V status and a unique `jti`. The key is given by the caller (`IVR_TOKEN_KEY` through
ivr.settings, whose development default is used only with a loud warning).

Signed and checked through PyJWT's public `jwt.encode` / `jwt.decode` only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

ALGORITHM = "HS256"
AUDIENCE = "visual-ivr"
ISSUER = "ivr"
DEFAULT_TTL_S = 600


class TokenError(Exception):
    """A token was refused; `reason` says why (expired, bad signature, audience, replayed...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class TokenIssuer:
    key: str = field(repr=False)
    ttl_s: int = DEFAULT_TTL_S
    clock: Callable[[], float] = time.time

    def issue(self, call_id: str, customer_id: str | None, idv_status: str) -> str:
        now = int(self.clock())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
            "call_id": call_id,
            "sub": customer_id or "",
            "idv_status": idv_status,
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        """Check signature, algorithm, audience, issuer and lifetime; raise TokenError."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "aud", "iss", "jti"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenError("expired") from error
        except jwt.InvalidAudienceError as error:
            raise TokenError("wrong audience") from error
        except jwt.InvalidSignatureError as error:
            raise TokenError("bad signature") from error
        except jwt.PyJWTError as error:
            raise TokenError(f"invalid token: {type(error).__name__}") from error
        return claims
