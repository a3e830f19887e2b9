"""Webhook signatures of the gateways we speak to, computed with the standard library only.

Twilio: base64 HMAC-SHA1 of the full URL followed by the POST parameters sorted by name.
jambonz: hex HMAC-SHA256 of "{t}.{raw body}", sent as `Jambonz-Signature: t=...,v1=...`.
Both are reimplemented here (rather than importing the vendors' SDKs at run time) so the
server has no vendor dependency; the tests check them against the official implementations.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import itertools
import operator
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
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
    return _sorted_params_text(sorted(params))


def _sorted_params_text(ordered: Sequence[tuple[str, str]]) -> str:
    """`_twilio_params_text` of pairs already sorted: a repeated pair sits next to its twin,
    so it is found by comparing neighbours, and the text is joined in C."""
    if any(map(operator.eq, ordered, itertools.islice(ordered, 1, None))):
        ordered = sorted(set(ordered))
    return "".join(itertools.chain.from_iterable(ordered))


@functools.lru_cache(maxsize=8)
def _sha1_pads(token: str) -> tuple[Any, Any]:
    """SHA-1 states after the HMAC key's inner and outer pads (RFC 2104), once per token:
    copying them costs less than `hmac.digest` setting up OpenSSL's HMAC on every request."""
    key = token.encode()
    if len(key) > _SHA1_BLOCK:
        key = hashlib.sha1(key).digest()
    key = key.ljust(_SHA1_BLOCK, b"\0")
    inner = hashlib.sha1(key.translate(_INNER_PAD))
    outer = hashlib.sha1(key.translate(_OUTER_PAD))
    return inner, outer


_SHA1_BLOCK = 64
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))  # byte -> byte XOR ipad
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


def _twilio_hmac(token: str, message: str) -> str:
    """base64 HMAC-SHA1 of `message` under `token` (equal to `hmac.digest`'s, tested)."""
    inner_pad, outer_pad = _sha1_pads(token)
    inner = inner_pad.copy()
    inner.update(message.encode())
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return base64.b64encode(outer.digest()).decode()


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
    return verify_twilio_sorted(token, url, sorted(params), signature)


def verify_twilio_sorted(
    token: str, url: str, ordered: Sequence[tuple[str, str]], signature: str | None
) -> bool:
    """`verify_twilio` for pairs already sorted (the adapter sorts once for the signature and
    the delivery key)."""
    if not signature or not token:
        return False
    suffix = _sorted_params_text(ordered)  # once, whichever form of the URL matches
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
