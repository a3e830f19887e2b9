"""Signed ID&V tokens for a visual IVR, so a caller verified on the phone is not asked again.

A JWT (HS256 pinned) with audience `visual-ivr`, a short lifetime, the call id, customer id,
ID&V status and a unique `jti`. The key is given by the caller (`IVR_TOKEN_KEY` through
ivr.settings, whose development default is used only with a loud warning).

Tokens are signed with PyJWT's own HS256 algorithm object. What `jwt.encode` redoes for every
token (checking the key is not a PEM, DER or JSON key, measuring it, writing the header) is
done once per key; the token is the same, byte for byte (tested against `jwt.encode`).
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.algorithms import Algorithm
from jwt.utils import base64url_encode

ALGORITHM = "HS256"
AUDIENCE = "visual-ivr"
ISSUER = "ivr"
DEFAULT_TTL_S = 600
_log = logging.getLogger(__name__)
# what `jwt.encode` writes a payload with, built once: `json.dumps` with separators builds a new
# encoder for every call
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class TokenError(Exception):
    """A token was refused; `reason` says why (expired, bad signature, audience, replayed...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _random_uuid4_hex() -> str:
    """`uuid.uuid4().hex` without building a UUID object (~5 -> ~1.4 µs): 16 random bytes
    with the version (4) and variant (RFC 4122) bits set as uuid4 sets them."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


@dataclass(frozen=True, slots=True)
class _Signer:
    """One key's prepared HS256 signer and encoded header: the same for every token."""

    key: str = field(repr=False)
    header: bytes  # base64url of the JOSE header, exactly as `jwt.encode` writes it
    algorithm: Algorithm
    prepared_key: Any = field(repr=False)

    @classmethod
    def for_key(cls, key: str) -> _Signer:
        """PyJWT's key checks, once: refuses asymmetric keys, warns about a short key."""
        algorithm = jwt.PyJWS().get_algorithm_by_name(ALGORITHM)
        prepared = algorithm.prepare_key(key)
        short = algorithm.check_key_length(prepared)
        if short:
            warnings.warn(short, jwt.InsecureKeyLengthWarning, stacklevel=3)
        header = json.dumps({"typ": "JWT", "alg": ALGORITHM}, separators=(",", ":"), sort_keys=True)
        return cls(key, base64url_encode(header.encode()), algorithm, prepared)

    def sign(self, claims: dict[str, Any]) -> str:
        payload = _COMPACT.encode(claims).encode("utf-8")
        signing_input = self.header + b"." + base64url_encode(payload)
        signature = self.algorithm.sign(signing_input, self.prepared_key)
        return (signing_input + b"." + base64url_encode(signature)).decode("utf-8")


@dataclass
class TokenIssuer:
    key: str = field(repr=False)
    ttl_s: int = DEFAULT_TTL_S
    clock: Callable[[], float] = time.time
    _signer: _Signer | None = field(default=None, init=False, repr=False, compare=False)

    def issue(self, call_id: str, customer_id: str | None, idv_status: str) -> str:
        now = int(self.clock())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "jti": _random_uuid4_hex(),
            "call_id": call_id,
            "sub": customer_id or "",
            "idv_status": idv_status,
        }
        signer = self._signer
        if signer is None or signer.key != self.key:  # first token, or the key was replaced
            signer = self._signer = _Signer.for_key(self.key)
        return signer.sign(claims)

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
