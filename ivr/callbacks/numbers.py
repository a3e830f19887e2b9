"""Callback numbers: parsed and checked with `phonenumbers`, kept in E.164.

A number must be *possible* (a known country code, a length that country uses), not *valid*
in phonenumbers' sense: the ranges set aside for fiction and tests (Ofcom's 07700 900xxx, the
numbers the demo and the issue use) are not "valid", and a stale metadata release would
otherwise refuse newly issued ranges.
"""

from __future__ import annotations

import phonenumbers


def e164(value: str) -> str:
    """The number in E.164 (+447700900123), or ValueError (the message never holds it)."""
    text = value.strip()
    if not text.startswith("+"):
        raise ValueError("number must be in international form, starting with +")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValueError("number cannot be parsed as a phone number") from None
    if phonenumbers.region_code_for_country_code(parsed.country_code or 0) == "ZZ":
        raise ValueError("number has an unknown country code")
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("number has the wrong length for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
