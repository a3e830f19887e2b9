"""Signed ID&V tokens for a visual IVR, so a caller verified on the phone is not asked again.

A JWT (HS256 pinned) with audience `visual-ivr`, a short lifetime, the call id, customer id,
ID&V status and a unique `jti`. The key is given by the caller (`IVR_TOKEN_KEY` through
ivr.settings, whose development default is used only with a loud warning).

Signed and checked through PyJWT's public API only: `jwt.decode`, and a `jwt.PyJWS` of the
issuer's own whose HS256 checks the issuer's key once. PyJWT checks an HMAC key on every
signature (that it is not a PEM, DER, SSH or JWK key, by trying to parse it as each), which
cost more than the rest of signing; the issuer's key never changes between tokens.
`python -m bench.micro --only tokens` prints both.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

ALGORITHM = "HS256"
AUDIENCE = "visual-ivr"
ISSUER = "ivr"
DEFAULT_TTL_S = 600


class TokenError(Exception):
    """A token was refused; `reason` says why (expired, bad signature, audience, replayed...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _KeyCheckedOnce(HMACAlgorithm):
    """HS256 that checks a key as PyJWT does, once: again only when the key changes."""

    def __init__(self, key: str) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._key: str | bytes = key
        self._prepared = super().prepare_key(key)  # an asymmetric key is refused here

    def prepare_key(self, key: str | bytes) -> bytes:
        if key is not self._key:  # a rotated key
            self._prepared = super().prepare_key(key)
            self._key = key
        return self._prepared


@dataclass
class TokenIssuer:
    key: str = field(repr=False)
    ttl_s: int = DEFAULT_TTL_S
    clock: Callable[[], float] = time.time
    _signer: jwt.PyJWS = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._signer = jwt.PyJWS(algorithms=[])
        self._signer.register_algorithm(ALGORITHM, _KeyCheckedOnce(self.key))

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
        payload = json.dumps(claims, separators=(",", ":")).encode()
        return self._signer.encode(payload, self.key, algorithm=ALGORITHM)

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
