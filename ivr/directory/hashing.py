"""Keyed hashes of security answers, under keys that can rotate.

A date of birth or a 4-digit PIN has so few possible values that a plain hash is reversed by
trying them all; an HMAC with a secret key (`IVR_SECRET_KEY`, kept outside the database,
given by the caller from ivr.settings) makes a stolen database file useless on its own. The
hash input binds the field and the customer id, so two customers with the same PIN (or one
customer whose PIN equals a date) do not share a hash; a partial answer's hash binds the
positions too (docs/security.md weighs the stored forms).

Keys: `IVR_SECRET_KEY` holds one key, or several separated by commas, the newest first. Each
stored answer records the id of the key that made it (a fingerprint, which reveals nothing of
the key), so answers made under an older key still verify and are re-stored under the newest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from ivr.settings import DEVELOPMENT_ANSWER_KEY as DEVELOPMENT_KEY
from ivr.settings import Settings

__all__ = [
    "DEVELOPMENT_KEY",
    "KeyRing",
    "SecretKey",
    "answer_matches",
    "default_ring",
    "hash_answer",
    "key_id",
    "secret_key",
]


def key_id(secret: bytes) -> str:
    """A key's public name: 12 hex digits of an HMAC under the key itself (not reversible)."""
    return hmac.new(secret, b"ivr answer key id", hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class SecretKey:
    secret: bytes = field(repr=False)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", key_id(self.secret))


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The configured keys, newest first: new answers use `current`, old ones verify by id."""

    keys: tuple[SecretKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")

    @classmethod
    def of(cls, *secrets: bytes | str) -> KeyRing:
        return cls(tuple(SecretKey(s.encode() if isinstance(s, str) else s) for s in secrets))

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The keys of `IVR_SECRET_KEY` (the development key, with a warning, when unset)."""
        return cls.of(*settings.answer_keys())

    @property
    def current(self) -> SecretKey:
        return self.keys[0]

    def get(self, wanted: str) -> SecretKey | None:
        for key in self.keys:
            if key.id == wanted:
                return key
        return None

    @property
    def ids(self) -> list[str]:
        return [key.id for key in self.keys]


def default_ring() -> KeyRing:
    """The public development key alone (library callers and tests that give no key)."""
    return KeyRing.of(Settings.defaults().answer_key())


def secret_key(key: bytes | None) -> bytes:
    """`key`, or the public development key with a one-time warning."""
    return key or Settings.defaults().answer_key()


def hash_answer(
    field: str,
    customer_id: str,
    answer: str,
    key: bytes | None = None,
    positions: Sequence[int] = (),
) -> str:
    """Hex HMAC-SHA256 of `field NUL customer_id NUL answer` (answer stripped of spaces); a
    partial answer (the digits at `positions`) hashes `... NUL p:2,5 NUL digits`."""
    parts = [field, customer_id]
    if positions:
        parts.append("p:" + ",".join(str(p) for p in positions))
    parts.append(answer.strip())
    message = "\x00".join(parts).encode("utf-8")
    return hmac.new(secret_key(key), message, hashlib.sha256).hexdigest()


def answer_matches(
    field: str,
    customer_id: str,
    answer: str,
    stored_hash: str,
    key: bytes | None = None,
    positions: Sequence[int] = (),
) -> bool:
    """Compare in constant time so the response time does not leak how much matched."""
    candidate = hash_answer(field, customer_id, answer, key, positions)
    return hmac.compare_digest(candidate.encode("utf-8"), stored_hash.encode("utf-8"))
