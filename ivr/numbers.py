"""Calling numbers (ANI) and customers' phones in E.164, by Google's libphonenumber rules.

Gateways and spreadsheets write one number many ways (`+44 7700 900123`, `0044...`,
`07700 900123`, `+44 (0)7700...`), so the directory stores and searches E.164 only. A
national number is read in the service line's region (`region:` in service-lines.yaml, else
`default_region`): `2125551234` is New York on a US line and no number at all on a GB line,
never Morocco. Anything that is not a dialable number (withheld, `anonymous`, SIP or client
identities) is None and is never looked up: matching `anonymous` would identify the wrong person.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

DEFAULT_REGION = "GB"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Only ASCII digits, '+', spaces, dashes, dots and parentheses may appear in a number: the
# library would also read letters (1-800-FLOWERS) and other scripts' digits.
_ALLOWED = re.compile(r"^\+?[0-9 ()\-.]+$")


class NumberProblem(ValueError):
    """Why a number is refused at import, in words a business user can act on."""


def _parse(raw: str | None, region: str) -> phonenumbers.PhoneNumber | None:
    if raw is None:
        return None
    text = raw.strip()
    if text.lower().startswith("tel:"):
        text = text[4:].strip()
    if not text or not _ALLOWED.match(text):
        return None
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


@functools.lru_cache(maxsize=4096)
def to_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """`raw` as E.164 when it can be a number (of its country's possible lengths), else None.

    Lenient on purpose: a caller's number is only ever compared with numbers the import
    accepted, so a number the library does not know as allocated still matches itself.
    Cached: every call and every routing decision asks again. Never raises.
    """
    number = _parse(raw, region)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if _E164.match(e164) else None


def checked_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """The stored form of a customer's phone from an import; NumberProblem says why not.

    A number written with its country code (`+44...`, `0044...`) needs a possible length for
    that country; a national one must be a valid number of `region`, so a number of another
    country written without its code is refused rather than filed under the wrong country.
    """
    number = _parse(raw, region)
    if number is None:
        raise NumberProblem(f"{raw!r} is not a valid phone number")
    international = raw.strip().removeprefix("tel:").strip().startswith(("+", "00"))
    if not phonenumbers.is_possible_number(number):
        raise NumberProblem(f"{raw!r} has the wrong number of digits for a phone number")
    if not international and not phonenumbers.is_valid_number_for_region(number, region):
        raise NumberProblem(
            f"{raw!r} is not a valid {region} number; write a number of another country "
            "with its country code (+1..., +33...)"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str) -> bool:
    """True if `value` is already in the stored form (used to check directory inputs)."""
    return _E164.match(value) is not None


def is_region(value: str) -> bool:
    """A region code the library knows (`GB`, `US`, `FR`...)."""
    return value in phonenumbers.SUPPORTED_REGIONS
