"""Webhook signatures of the gateways we speak to, computed with the standard library only.

Twilio: base64 HMAC-SHA1 of the full URL followed by the POST parameters sorted by name.
jambonz: hex HMAC-SHA256 of "{t}.{raw body}", sent as `Jambonz-Signature: t=...,v1=...`.
Both are reimplemented here (rather than importing the vendors' SDKs at run time) so the
server has no vendor dependency; the tests check them against the official implementations.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

JAMBONZ_TOLERANCE_S = 300  # jambonz's own SDKs refuse signatures older than five minutes


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The X-Twilio-Signature Twilio sends for a form POST to `url` with `params`.

    Repeated names are signed once per distinct value, values sorted, as Twilio's helpers do.
    """
    return _twilio_hmac(token, url + _twilio_params_text(params))


def _twilio_params_text(params: Iterable[tuple[str, str]]) -> str:
    """Names in order, each distinct value once, values in order: the pairs, deduplicated and
    sorted (one C-level sort instead of a dict of sets)."""
    return "".join([name + value for name, value in sorted(set(params))])


def _twilio_hmac(token: str, message: str) -> str:
    return base64.b64encode(hmac.digest(token.encode(), message.encode(), "sha1")).decode()


def url_port_variants(url: str) -> tuple[str, str]:
    """The URL without its port and with the scheme's default port made explicit.

    Twilio computes signatures inconsistently with respect to the port, so its own validator
    accepts either form; we build the two candidates exactly as it does.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return url, url
    if port:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])), url
    default = 443 if parts.scheme == "https" else 80
    return url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))


def verify_twilio(
    token: str, url: str, params: Sequence[tuple[str, str]], signature: str | None
) -> bool:
    """True when `signature` matches `url` (with or without its port) and `params`."""
    if not signature or not token:
        return False
    suffix = _twilio_params_text(params)  # once, whichever form of the URL matches
    if hmac.compare_digest(_twilio_hmac(token, url + suffix), signature):
        return True  # the URL as received: the usual case, no URL parsing needed
    return any(
        hmac.compare_digest(_twilio_hmac(token, candidate + suffix), signature)
        for candidate in url_port_variants(url)
        if candidate != url
    )


def jambonz_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The v1 value of Jambonz-Signature for `body` sent at `timestamp` (unix seconds)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def jambonz_header(secret: str, timestamp: int, body: bytes) -> str:
    """The whole Jambonz-Signature header, as jambonz would send it (used by tests and tools)."""
    return f"t={timestamp},v1={jambonz_signature(secret, timestamp, body)}"


def verify_jambonz(
    secrets: Sequence[str],
    header: str | None,
    body: bytes,
    *,
    tolerance_s: int = JAMBONZ_TOLERANCE_S,
    clock: Callable[[], float] = time.time,
) -> bool:
    """True when `header` signs the raw `body` with any of `secrets` within the time window.

    Several secrets are accepted so a secret can be rotated without dropping calls. A
    timestamp too far in the future is refused like a stale one (replay window both ways).
    """
    if not header or not secrets:
        return False
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(clock() - timestamp) > tolerance_s:
        return False
    candidates = fields.get("v1", [])
    return any(
        hmac.compare_digest(jambonz_signature(secret, timestamp, body), candidate)
        for secret in secrets
        if secret
        for candidate in candidates
    )
