"""Calling numbers by libphonenumber: differential properties against the library itself."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.numbers import NumberProblem, checked_e164, is_e164, to_e164

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(r))
FORMATS = (
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
)


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str, str]:
    """(region, a valid number of it as people write it, its E.164 by the library)."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from((phonenumbers.PhoneNumberType.MOBILE, None)))
    example = (
        phonenumbers.example_number_for_type(region, kind)
        if kind is not None
        else phonenumbers.example_number(region)
    ) or phonenumbers.example_number(region)
    assert example is not None
    written = phonenumbers.format_number(example, draw(st.sampled_from(FORMATS)))
    if draw(st.booleans()):
        written = written.replace(" ", draw(st.sampled_from(["", "-", ".", "  "])))
    expected = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    return region, written, expected


@settings(max_examples=300)
@given(written_numbers())
def test_any_spelling_of_a_valid_number_is_the_libraries_e164(
    case: tuple[str, str, str],
) -> None:
    region, written, expected = case
    if not re.fullmatch(r"\+?[0-9 ()\-.]+", written):
        return  # a few regions' national format has letters or other scripts: not dialled keys
    assert to_e164(written, region) == expected
    assert checked_e164(written, region) == expected


@given(st.text())
def test_never_raises_and_output_is_e164_or_none(raw: str) -> None:
    result = to_e164(raw)
    assert result is None or E164.match(result)


@given(st.from_regex(r"\A[+0-9 ()\-.]{0,24}\Z"), st.sampled_from(["GB", "US", "FR", "DE"]))
def test_numbers_are_stable_once_normalised(raw: str, region: str) -> None:
    result = to_e164(raw, region)
    assert result is None or (to_e164(result, region) == result and is_e164(result))


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 07700 900123", "GB", "+447700900123"),  # the trunk zero is dropped (issue 13)
        ("2125551234", "US", "+12125551234"),  # New York on a US line ...
        ("07700 900123", "GB", "+447700900123"),
        ("0044 7700 900123", "GB", "+447700900123"),
        ("+44 (0)7700 900123", "GB", "+447700900123"),
        ("(0113) 496-0000", "GB", "+441134960000"),
        ("  +1 (415) 555-0100 ", "GB", "+14155550100"),
        ("447700900123", "GB", "+447700900123"),  # what many SIP trunks send
        ("tel:+447700900123", "GB", "+447700900123"),
        ("0612345678", "FR", "+33612345678"),
    ],
)
def test_spellings(raw: str, region: str, expected: str) -> None:
    assert to_e164(raw, region) == expected


def test_a_us_number_is_never_moroccan() -> None:
    assert to_e164("2125551234", "GB") != "+2125551234"  # ... and never Morocco
    with pytest.raises(NumberProblem, match="not a valid GB number"):
        checked_e164("2125551234", "GB")


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "anonymous",
        "WITHHELD",
        "client:alice",
        "sip:+447700900123@gw.example.com",
        "+44 7700 9OO123",  # letter O, not zero
        "+",
        "+0447700900123",
        "+12345",
        "+1234567890123456",
        "٠٧٧٠٠٩٠٠١٢٣",  # non-ASCII digits are not dialled keys
    ],
)
def test_non_numbers_are_never_looked_up(raw: str | None) -> None:
    assert to_e164(raw) is None
