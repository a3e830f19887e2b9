"""Keyed hashes of security answers: the directory never stores an answer in clear.

A date of birth or a 4-digit PIN has so few possible values that a plain hash is reversed by
trying them all; an HMAC with a secret key (`IVR_SECRET_KEY`, kept outside the database)
makes a stolen database file useless on its own. The hash input binds the field and the
customer id, so two customers with the same PIN (or one customer whose PIN equals a date)
do not share a hash that would reveal it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

KEY_ENV = "IVR_SECRET_KEY"
# Only for development and tests: anyone can read it here, so production must set the env.
DEVELOPMENT_KEY = b"ivr-development-key-do-not-use-in-production"

logger = logging.getLogger(__name__)
_warned = False


def secret_key() -> bytes:
    """The HMAC key from the environment, or the development key with a one-time warning."""
    global _warned
    value = os.environ.get(KEY_ENV, "")
    if value:
        return value.encode("utf-8")
    if not _warned:
        _warned = True
        logger.warning(
            "%s is not set: security answers are hashed with the PUBLIC development key. "
            "Set %s to a long random secret before storing real customers.",
            KEY_ENV,
            KEY_ENV,
        )
    return DEVELOPMENT_KEY


def hash_answer(field: str, customer_id: str, answer: str, key: bytes | None = None) -> str:
    """Hex HMAC-SHA256 of `field NUL customer_id NUL answer` (answer stripped of spaces)."""
    message = "\x00".join((field, customer_id, answer.strip())).encode("utf-8")
    return hmac.new(key or secret_key(), message, hashlib.sha256).hexdigest()


def answer_matches(
    field: str, customer_id: str, answer: str, stored_hash: str, key: bytes | None = None
) -> bool:
    """Compare in constant time so the response time does not leak how much matched."""
    candidate = hash_answer(field, customer_id, answer, key)
    return hmac.compare_digest(candidate.encode("utf-8"), stored_hash.encode("utf-8"))
