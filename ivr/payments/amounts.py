"""Amounts in minor units (pence, cents, yen), as processors take them.

The exponent is ISO 4217's; a flow's amount with more decimals than its currency has is an
error, never rounded: a caller must never be charged other than what they were told.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 currencies whose minor unit is not 1/100
EXPONENTS: dict[str, int] = {
    "BHD": 3,
    "CLP": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "VND": 0,
}


class AmountError(ValueError):
    """The amount is not a positive number in the currency's minor units."""


def to_minor(value: object, currency: str) -> int:
    """`25`, `25.5`, `"25.50"` in GBP -> 2550; refuse a bool, zero, negatives, too many decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise AmountError("the amount is not a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise AmountError("the amount is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise AmountError("the amount must be above 0")
    scaled = amount.scaleb(EXPONENTS.get(currency, 2))
    if scaled != scaled.to_integral_value():
        raise AmountError(f"the amount has more decimals than {currency} has")
    return int(scaled)


def from_minor(minor: int, currency: str) -> str:
    """2550 in GBP -> '25.50' (what prompts say and the hand-off shows)."""
    exponent = EXPONENTS.get(currency, 2)
    return f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"
