"""Taking a card field by field: what each field accepts, in which order, and what `*` means.

Pure: the engine's payment step (ivr.engine.payment_step) keeps the entry sealed between
webhooks and asks this module what the caller's keys are worth. A refused entry says which
rule failed (journaled as a kind, never the keys); the caller only hears "that didn't work".
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from ivr.payments.cards import (
    MAX_PAN_LENGTH,
    MIN_PAN_LENGTH,
    CardProblem,
    brand_of,
    check_cvv,
    check_expiry,
    check_pan,
    check_postcode,
)
from ivr.payments.vault import CardEntry

CardField = Literal["card_number", "expiry", "cvv", "postcode"]
CANCEL_KEY = "*"


def fields_for(postcode: bool) -> tuple[CardField, ...]:
    """The fields a payment step asks, in order."""
    return (
        ("card_number", "expiry", "cvv", "postcode")
        if postcode
        else (
            "card_number",
            "expiry",
            "cvv",
        )
    )


def next_field(current: CardField, postcode: bool) -> CardField | None:
    order = fields_for(postcode)
    index = order.index(current) + 1
    return order[index] if index < len(order) else None


def digit_range(current: CardField, entry: CardEntry) -> tuple[int, int]:
    """How many keys the gateway collects for a field (the CVV's length follows the brand)."""
    if current == "card_number":
        return MIN_PAN_LENGTH, MAX_PAN_LENGTH
    if current == "expiry":
        return 4, 4
    if current == "cvv":
        rule = brand_of(entry.pan)
        return (rule.cvv_length, rule.cvv_length) if rule is not None else (3, 4)
    return 1, 10


def cancelled(keys: str) -> bool:
    """`*` anywhere in an entry cancels the payment (as Twilio <Pay> does)."""
    return CANCEL_KEY in keys


def accept(entry: CardEntry, current: CardField, keys: str, today: date) -> CardProblem | None:
    """Check `keys` for `current`; when they pass, store them in `entry`."""
    if current == "card_number":
        _rule, problem = check_pan(keys)
        if problem is None:
            entry.pan = keys
        return problem
    if current == "expiry":
        problem = check_expiry(keys, today.year, today.month)
        if problem is None:
            entry.expiry = keys
        return problem
    if current == "cvv":
        rule = brand_of(entry.pan)
        problem = CardProblem.BAD_CVV if rule is None else check_cvv(keys, rule)
        if problem is None:
            entry.cvv = keys
        return problem
    problem = check_postcode(keys)
    if problem is None:
        entry.postcode = keys
    return problem
