"""The app's bearer tokens: JWTs from the company's login service, checked with PyJWT.

HS256 with a shared secret (`IVR_APP_JWT_SECRET`), or RS256 / ES256 with the login service's
public key (a PEM file named in config/callbacks.yaml). `sub` is the customer id; `exp` is
required; `aud` and `iss` are checked when configured. An algorithm is never taken from the
token itself: only the configured ones are accepted (no `none`, no HS/RS confusion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jwt

SECRET_ENV = "IVR_APP_JWT_SECRET"
ASYMMETRIC = frozenset({"RS256", "ES256"})


class AuthConfigError(ValueError):
    """The app token settings are inconsistent (refused at startup)."""


class Unauthorised(Exception):
    """No token, or one that does not verify; the message is safe to send back."""


@dataclass(frozen=True, slots=True)
class AppIdentity:
    customer_id: str
    name: str | None = None
    idv_status: str = "identified_and_verified"  # the app's login verified the customer


@dataclass(frozen=True)
class AppAuth:
    key: str | bytes
    algorithms: tuple[str, ...]
    audience: str | None = None
    issuer: str | None = None
    leeway_s: float = 30.0
    required: tuple[str, ...] = field(default=("exp", "sub"))

    @classmethod
    def build(
        cls,
        secret: str | None,
        public_key_file: Path | None,
        algorithms: tuple[str, ...] = (),
        audience: str | None = None,
        issuer: str | None = None,
    ) -> AppAuth | None:
        """HS256 with `secret`, or the asymmetric algorithms with the public key; None if
        neither is configured (then the callback API is not served)."""
        if public_key_file is not None:
            algs = algorithms or ("RS256", "ES256")
            if not set(algs) <= ASYMMETRIC:
                raise AuthConfigError("a public key verifies RS256 or ES256 only")
            try:
                key = public_key_file.read_bytes()
            except OSError as error:
                raise AuthConfigError(f"cannot read {public_key_file}: {error.strerror}") from None
            return cls(key, tuple(algs), audience, issuer)
        if secret:
            if algorithms and tuple(algorithms) != ("HS256",):
                raise AuthConfigError(f"{SECRET_ENV} verifies HS256 only")
            if len(secret.encode()) < 32:
                raise AuthConfigError(f"{SECRET_ENV} must be at least 32 bytes")
            return cls(secret, ("HS256",), audience, issuer)
        return None

    def identify(self, authorization: str | None) -> AppIdentity:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorised("send Authorization: Bearer <token>")
        try:
            claims = jwt.decode(
                token.strip(),
                self.key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": list(self.required), "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorised("token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorised("token not valid") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise Unauthorised("token has no usable sub")
        name = claims.get("name")
        return AppIdentity(subject, name if isinstance(name, str) else None)
