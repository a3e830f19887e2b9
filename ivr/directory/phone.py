"""Normalise a calling number (ANI) to E.164 so that one customer's phone has one spelling.

Gateways and spreadsheets write the same number many ways (`+44 7700 900123`, `0044...`,
`07700 900123`, `+44 (0)7700...`). Looking a caller up by a raw string would miss, so the
directory stores and searches E.164 only. Anything that is not a dialable number (withheld,
`anonymous`, SIP or client identities) normalises to None and is never looked up: matching
`anonymous` against the directory would identify the wrong person.
"""

from __future__ import annotations

import re

DEFAULT_COUNTRY_CODE = "44"

E164_PATTERN = re.compile(r"^\+[1-9][0-9]{6,14}$")

# Spellings of "no number" seen from carriers and gateways (compared lower-cased).
_NO_NUMBER = frozenset(
    {
        "anonymous",
        "withheld",
        "unknown",
        "restricted",
        "private",
        "unavailable",
        "blocked",
        "none",
        "null",
    }
)
# Only ASCII digits, '+', spaces, dashes, dots and parentheses may appear in a number.
_ALLOWED = re.compile(r"^\+?[0-9 ()\-.]+$")
_TRUNK_ZERO = re.compile(r"\(0\)")
_NOT_DIGIT = re.compile(r"[^0-9]")


def normalise_phone(
    raw: str | None, default_country_code: str = DEFAULT_COUNTRY_CODE
) -> str | None:
    """Return `raw` as E.164 (`+447700900123`), or None if it is not a usable number.

    A national number (leading single 0) takes `default_country_code`; `00` and `+` mean
    international. A bare number without prefix is read as international without its `+`
    (the form many SIP trunks send). Never raises.
    """
    if raw is None:
        return None
    text = raw.strip()
    if text.lower().startswith("tel:"):
        text = text[4:].strip()
    if not text or text.lower() in _NO_NUMBER or not _ALLOWED.match(text):
        return None
    international = text.startswith("+")
    if international or text.startswith("00"):
        # "+44 (0)20 ..." carries the national trunk zero in brackets: it is not dialled.
        text = _TRUNK_ZERO.sub("", text)
    digits = _NOT_DIGIT.sub("", text)
    if international:
        candidate = "+" + digits
    elif digits.startswith("00"):
        candidate = "+" + digits[2:]
    elif digits.startswith("0"):
        candidate = "+" + default_country_code + digits[1:]
    else:
        candidate = "+" + digits
    return candidate if E164_PATTERN.match(candidate) else None


def is_e164(value: str) -> bool:
    """True if `value` is already in the stored form (used to validate directory inputs)."""
    return E164_PATTERN.match(value) is not None
