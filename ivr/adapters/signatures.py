"""Webhook signatures of the gateways we speak to, computed with the standard library only.

Twilio: base64 HMAC-SHA1 of the full URL followed by the POST parameters sorted by name.
jambonz: hex HMAC-SHA256 of "{t}.{raw body}", sent as `Jambonz-Signature: t=...,v1=...`; our
JSON webhook uses the same scheme (`X-IVR-Signature`), checked by the same function.
Both are reimplemented here (rather than importing the vendors' SDKs at run time) so the
server has no vendor dependency; the tests check them against the official implementations.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import time
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

JAMBONZ_TOLERANCE_S = 300  # jambonz's own SDKs refuse signatures older than five minutes


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The X-Twilio-Signature Twilio sends for a form POST to `url` with `params`.

    Repeated names are signed once per distinct value, values sorted, as Twilio's helpers do.
    """
    signed = url + "".join(itertools.chain.from_iterable(sorted(set(params))))
    return base64.b64encode(hmac.digest(token.encode(), signed.encode(), "sha1")).decode()


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
    token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    """True when `signature` matches `url` (as received, else with or without its port) and
    `params`, compared in constant time."""
    if not signature or not token or not signature.isascii():
        return False  # compare_digest refuses non-ASCII text: such a header is simply wrong
    fields = "".join(itertools.chain.from_iterable(sorted(set(params))))
    key, expected = token.encode(), signature.encode()
    candidates = [url]  # the URL as received first: the usual case, no URL parsing needed
    for candidate in candidates:
        mac = base64.b64encode(hmac.digest(key, (candidate + fields).encode(), "sha1"))
        if hmac.compare_digest(mac, expected):
            return True
        if candidate is url:  # then with or without its port, as the gateway may have signed it
            candidates.extend(other for other in url_port_variants(url) if other != url)
    return False


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
