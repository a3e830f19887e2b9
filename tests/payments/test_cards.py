"""Card rules: brands by prefix, lengths, Luhn, expiry, CVV, masking."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.payments.amounts import AmountError, from_minor, to_minor
from ivr.payments.cards import (
    Brand,
    CardProblem,
    check_cvv,
    check_expiry,
    check_pan,
    check_postcode,
    luhn_valid,
    masked,
)
from tests.payments.cardgen import card_number, cvv_for


@pytest.mark.parametrize(
    ("pan", "brand"),
    [
        ("4111111111111111", Brand.VISA),
        ("4222222222222", Brand.VISA),
        ("5555555555554444", Brand.MASTERCARD),
        ("2223003122003222", Brand.MASTERCARD),
        ("378282246310005", Brand.AMEX),
        ("6011111111111117", Brand.DISCOVER),
    ],
)
def test_published_test_numbers_pass_with_their_brand(pan: str, brand: Brand) -> None:
    rule, problem = check_pan(pan)
    assert problem is None
    assert rule is not None
    assert rule.brand is brand


@pytest.mark.parametrize(
    ("pan", "problem"),
    [
        ("4111111111111112", CardProblem.BAD_CHECK_DIGIT),
        ("411111111111111", CardProblem.BAD_LENGTH),  # 15 digits: not a Visa length
        ("3782822463100050", CardProblem.BAD_LENGTH),  # Amex is 15
        ("9111111111111111", CardProblem.UNKNOWN_BRAND),
        ("4111-1111", CardProblem.NOT_DIGITS),
        ("", CardProblem.NOT_DIGITS),
    ],
)
def test_bad_numbers_name_the_rule(pan: str, problem: CardProblem) -> None:
    assert check_pan(pan)[1] is problem


@given(st.sampled_from(list(Brand)), st.integers(0, 2**32))
def test_generated_numbers_are_valid_for_their_brand(brand: Brand, seed: int) -> None:
    rng = random.Random(seed)
    pan = card_number(brand, rng)
    rule, problem = check_pan(pan)
    assert problem is None
    assert rule is not None
    assert rule.brand is brand
    assert check_cvv(cvv_for(brand, rng), rule) is None


@given(st.text("0123456789", min_size=2, max_size=19), st.integers(0, 8))
def test_one_changed_digit_breaks_luhn(digits: str, shift: int) -> None:
    if not luhn_valid(digits):
        return
    changed = digits[:-1] + str((int(digits[-1]) + shift + 1) % 10)
    assert not luhn_valid(changed)


def test_expiry_is_valid_through_its_month_and_not_before() -> None:
    assert check_expiry("1226", 2026, 12) is None
    assert check_expiry("1126", 2026, 12) is CardProblem.EXPIRED
    assert check_expiry("0125", 2026, 12) is CardProblem.EXPIRED
    assert check_expiry("1326", 2026, 12) is CardProblem.BAD_DATE
    assert check_expiry("0026", 2026, 12) is CardProblem.BAD_DATE
    assert check_expiry("126", 2026, 12) is CardProblem.BAD_DATE
    assert check_expiry("0199", 2026, 12) is CardProblem.BAD_DATE  # 73 years ahead: a typo


def test_cvv_length_follows_the_brand() -> None:
    visa, _ = check_pan("4111111111111111")
    amex, _ = check_pan("378282246310005")
    assert visa is not None
    assert amex is not None
    assert check_cvv("123", visa) is None
    assert check_cvv("1234", visa) is CardProblem.BAD_CVV
    assert check_cvv("1234", amex) is None
    assert check_cvv("123", amex) is CardProblem.BAD_CVV


def test_postcode_digits() -> None:
    assert check_postcode("12345") is None
    assert check_postcode("") is CardProblem.BAD_POSTCODE
    assert check_postcode("12345678901") is CardProblem.BAD_POSTCODE


def test_masked_shows_the_last_four_only() -> None:
    assert masked("4111111111111111") == "************1111"
    assert masked("378282246310005") == "***********0005"


def test_amounts_in_minor_units() -> None:
    assert to_minor("25.50", "GBP") == 2550
    assert to_minor(25, "GBP") == 2500
    assert to_minor(1000, "JPY") == 1000
    assert to_minor("1.234", "KWD") == 1234
    assert from_minor(2550, "GBP") == "25.50"
    assert from_minor(1000, "JPY") == "1000"
    for bad in ("25.555", 0, -1, True, "abc", None, "NaN"):
        with pytest.raises(AmountError):
            to_minor(bad, "GBP")
