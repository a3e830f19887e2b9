"""Keyed hashes of security answers: the directory never stores an answer in clear.

A date of birth or a 4-digit PIN has so few possible values that a plain hash is reversed by
trying them all; an HMAC with a secret key (`IVR_SECRET_KEY`, kept outside the database,
given by the caller from ivr.settings)
makes a stolen database file useless on its own. The hash input binds the field and the
customer id, so two customers with the same PIN (or one customer whose PIN equals a date)
do not share a hash that would reveal it.
"""

from __future__ import annotations

import hashlib
import hmac

from ivr.settings import DEVELOPMENT_ANSWER_KEY as DEVELOPMENT_KEY
from ivr.settings import Settings

__all__ = ["DEVELOPMENT_KEY", "answer_matches", "hash_answer", "secret_key"]


def secret_key(key: bytes | None) -> bytes:
    """`key`, or the public development key with a one-time warning."""
    return key or Settings.defaults().answer_key()


def hash_answer(field: str, customer_id: str, answer: str, key: bytes | None = None) -> str:
    """Hex HMAC-SHA256 of `field NUL customer_id NUL answer` (answer stripped of spaces)."""
    message = "\x00".join((field, customer_id, answer.strip())).encode("utf-8")
    return hmac.new(secret_key(key), message, hashlib.sha256).hexdigest()


def answer_matches(
    field: str, customer_id: str, answer: str, stored_hash: str, key: bytes | None = None
) -> bool:
    """Compare in constant time so the response time does not leak how much matched."""
    candidate = hash_answer(field, customer_id, answer, key)
    return hmac.compare_digest(candidate.encode("utf-8"), stored_hash.encode("utf-8"))
