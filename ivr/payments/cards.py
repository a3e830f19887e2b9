"""What a card entry is: the brand from its leading digits, Luhn, lengths, expiry, CVV.

Pure functions over digit strings. None of them raises with the digits in its message, and
`CardCheck` results name the failed rule, never the entry, so a log line or an exception
built from them cannot carry a card number.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Brand(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"


@dataclass(frozen=True, slots=True)
class BrandRule:
    """A brand's issuer prefixes (inclusive ranges of leading digits) and allowed lengths."""

    brand: Brand
    prefixes: tuple[tuple[int, int], ...]
    lengths: tuple[int, ...]
    cvv_length: int


# Issuer identification ranges as the card schemes publish them.
BRAND_RULES: tuple[BrandRule, ...] = (
    BrandRule(Brand.AMEX, ((34, 34), (37, 37)), (15,), 4),
    BrandRule(Brand.VISA, ((4, 4),), (13, 16, 19), 3),
    BrandRule(Brand.MASTERCARD, ((51, 55), (2221, 2720)), (16,), 3),
    BrandRule(
        Brand.DISCOVER, ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), (16, 17, 18, 19), 3
    ),
)
MIN_PAN_LENGTH = min(length for rule in BRAND_RULES for length in rule.lengths)
MAX_PAN_LENGTH = max(length for rule in BRAND_RULES for length in rule.lengths)


def brand_of(pan: str) -> BrandRule | None:
    """The brand whose prefix ranges hold the number's leading digits, if any."""
    for rule in BRAND_RULES:
        for low, high in rule.prefixes:
            width = len(str(low))
            if len(pan) >= width and pan[:width].isdigit() and low <= int(pan[:width]) <= high:
                return rule
    return None


def luhn_valid(digits: str) -> bool:
    """The mod-10 check digit (ISO/IEC 7812-1) every card number carries."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body` + it pass Luhn (test cards are generated with it)."""
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return digit
    raise ValueError("the body must be digits")  # pragma: no cover - one digit always fits


class CardProblem(StrEnum):
    """Why an entry is refused; the caller is asked again (never told which rule failed)."""

    NOT_DIGITS = "not_digits"
    UNKNOWN_BRAND = "unknown_brand"
    BAD_LENGTH = "bad_length"
    BAD_CHECK_DIGIT = "bad_check_digit"
    BAD_DATE = "bad_date"
    EXPIRED = "expired"
    BAD_CVV = "bad_cvv"
    BAD_POSTCODE = "bad_postcode"


def check_pan(pan: str) -> tuple[BrandRule | None, CardProblem | None]:
    """The brand of a card number, or the rule it breaks."""
    if not pan.isdigit():
        return None, CardProblem.NOT_DIGITS
    rule = brand_of(pan)
    if rule is None:
        return None, CardProblem.UNKNOWN_BRAND
    if len(pan) not in rule.lengths:
        return rule, CardProblem.BAD_LENGTH
    if not luhn_valid(pan):
        return rule, CardProblem.BAD_CHECK_DIGIT
    return rule, None


def check_expiry(mmyy: str, year: int, month: int) -> CardProblem | None:
    """MMYY, valid through the last day of its month; `year`/`month` are today's."""
    if len(mmyy) != 4 or not mmyy.isdigit():
        return CardProblem.BAD_DATE
    expiry_month, expiry_year = int(mmyy[:2]), 2000 + int(mmyy[2:])
    if not 1 <= expiry_month <= 12:
        return CardProblem.BAD_DATE
    if (expiry_year, expiry_month) < (year, month):
        return CardProblem.EXPIRED
    if expiry_year > year + 20:  # no scheme issues cards this far ahead: a mistyped year
        return CardProblem.BAD_DATE
    return None


def check_cvv(cvv: str, rule: BrandRule) -> CardProblem | None:
    """Three digits, or four for the brands that print four (American Express)."""
    if not cvv.isdigit() or len(cvv) != rule.cvv_length:
        return CardProblem.BAD_CVV
    return None


def check_postcode(digits: str) -> CardProblem | None:
    """The digits of the billing postcode (address verification takes digits only)."""
    if not digits.isdigit() or not 1 <= len(digits) <= 10:
        return CardProblem.BAD_POSTCODE
    return None


def last_four(pan: str) -> str:
    return pan[-4:]


def masked(pan: str) -> str:
    """The number as it may be shown: every digit but the last four hidden (PCI DSS 3.4.1
    allows first six and last four; we show less)."""
    return "*" * (len(pan) - 4) + pan[-4:]
