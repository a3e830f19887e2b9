"""Random valid card numbers per brand (prefix, length, Luhn check digit) for sweeps and
properties; and the separators a leaked number could be written with."""

from __future__ import annotations

import random

from ivr.payments.cards import Brand, luhn_check_digit

PREFIXES: dict[Brand, tuple[tuple[str, int], ...]] = {
    Brand.VISA: (("4", 16), ("4", 13), ("4", 19)),
    Brand.MASTERCARD: (("51", 16), ("55", 16), ("2221", 16), ("2720", 16)),
    Brand.AMEX: (("34", 15), ("37", 15)),
    Brand.DISCOVER: (("6011", 16), ("65", 16), ("644", 16), ("622126", 19)),
}


def card_number(brand: Brand, rng: random.Random) -> str:
    prefix, length = rng.choice(PREFIXES[brand])
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return body + luhn_check_digit(body)


def cvv_for(brand: Brand, rng: random.Random) -> str:
    return "".join(rng.choice("0123456789") for _ in range(4 if brand is Brand.AMEX else 3))


def spellings(pan: str) -> list[str]:
    """The number as-is and grouped by four with spaces or dashes (and 4-6-5 for Amex)."""
    groups = [pan[i : i + 4] for i in range(0, len(pan), 4)]
    amex = [pan[:4], pan[4:10], pan[10:]]
    forms = {pan}
    for sep in (" ", "-"):
        forms.add(sep.join(groups))
        forms.add(sep.join(amex))
    return sorted(forms)
