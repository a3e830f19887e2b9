from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.directory.phone import is_e164, normalise_phone

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+447700900123", "+447700900123"),
        ("+44 7700 900123", "+447700900123"),
        ("+44-7700-900-123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("+44 (0)7700 900123", "+447700900123"),
        ("+44 (0) 113 496 0000", "+441134960000"),
        ("07700 900123", "+447700900123"),
        ("(0113) 496-0000", "+441134960000"),
        ("  +1 (415) 555-0100 ", "+14155550100"),
        ("447700900123", "+447700900123"),
        ("tel:+447700900123", "+447700900123"),
    ],
)
def test_spellings_normalise_to_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


def test_national_numbers_take_the_configured_country_code() -> None:
    assert normalise_phone("0612345678", default_country_code="33") == "+33612345678"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "WITHHELD",
        "unknown",
        "restricted",
        "private",
        "client:alice",
        "sip:alice@example.com",
        "sip:+447700900123@gw.example.com",
        "+44 7700 9OO123",  # letter O, not zero
        "+",
        "00",
        "0",
        "+0447700900123",  # country codes never start with 0
        "+12345",  # too short
        "+1234567890123456",  # too long
        "٠٧٧٠٠٩٠٠١٢٣",  # non-ASCII digits are not dialable digits
    ],
)
def test_non_numbers_are_never_looked_up(raw: str | None) -> None:
    assert normalise_phone(raw) is None


@given(st.text())
def test_never_raises_and_output_is_e164_or_none(raw: str) -> None:
    result = normalise_phone(raw)
    assert result is None or E164.match(result)


@given(st.from_regex(r"\A[+0-9 ()\-.]{0,24}\Z"))
def test_numbers_are_stable_once_normalised(raw: str) -> None:
    result = normalise_phone(raw)
    assert result is None or (normalise_phone(result) == result and is_e164(result))
