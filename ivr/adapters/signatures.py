"""Webhook signatures of the gateways we speak to, computed with the standard library only.

Twilio: base64 HMAC-SHA1 of the full URL followed by the POST parameters sorted by name.
jambonz: hex HMAC-SHA256 of "{t}.{raw body}", sent as `Jambonz-Signature: t=...,v1=...`; our
JSON webhook uses the same scheme (`X-IVR-Signature`), checked by the same function.
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
import re
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
    if not signature or not token or not signature.isascii():
        return False  # compare_digest refuses non-ASCII text: such a header is simply wrong
    suffix = _sorted_params_text(ordered)  # once, whichever form of the URL matches
    if hmac.compare_digest(_twilio_hmac(token, url + suffix), signature):
        return True  # the URL as received: the usual case, no URL parsing needed
    return any(
        hmac.compare_digest(_twilio_hmac(token, candidate + suffix), signature)
        for candidate in url_port_variants(url)
        if candidate != url
    )


def timestamped_mac(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of "{t}.{raw body}": the v1 value of a `t=...,v1=...` header.

    jambonz signs its webhooks this way, and our JSON webhook protocol uses the same scheme.
    """
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def timestamped_header(secret: str, timestamp: int, body: bytes) -> str:
    """The whole `t=...,v1=...` header a sender puts on `body` (used by tests and tools)."""
    return f"t={timestamp},v1={timestamped_mac(secret, timestamp, body)}"


jambonz_signature = timestamped_mac
jambonz_header = timestamped_header

_STAMP = re.compile(r"[0-9]{1,12}")  # unix seconds; longer is no time we would accept


def verify_timestamped(
    secrets: Sequence[str],
    header: str | None,
    body: bytes,
    *,
    tolerance_s: int = JAMBONZ_TOLERANCE_S,
    clock: Callable[[], float] = time.time,
) -> bool:
    """True when `header` (`t=<unix>,v1=<hex>[,v1=...]`) signs the raw `body` with any of
    `secrets` within the time window, compared in constant time.

    Several secrets are accepted so a secret can be rotated without dropping calls. A
    timestamp too far in the future is refused like a stale one (replay window both ways);
    anything unparseable (no `t`, two of them, not 1-12 ASCII digits) is refused, never an
    error.
    """
    if not header or not secrets:
        return False
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    stamps = fields.get("t", [])
    if len(stamps) != 1 or not _STAMP.fullmatch(stamps[0]):
        return False
    timestamp = int(stamps[0])
    if abs(clock() - timestamp) > tolerance_s:
        return False
    candidates = [value for value in fields.get("v1", []) if value.isascii()]
    return any(
        hmac.compare_digest(timestamped_mac(secret, timestamp, body), candidate)
        for secret in secrets
        if secret
        for candidate in candidates
    )


verify_jambonz = verify_timestamped
