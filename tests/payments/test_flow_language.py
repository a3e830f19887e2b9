"""The `payment` step in the flow language: its outcomes must all be routed, its amount and
currency are checked, and every mistake points at its line and column."""

from __future__ import annotations

import json

import pytest

from ivr.flow.json_schema import flow_json_schema
from tests.flow.helpers import found, problems_of

FLOW = """\
schema_version: 1
flow: {id: pay, version: "1", languages: [en-GB]}
steps:
  - step: amount
    set: {due: "'10.00'"}
    next: take
  - step: take
    payment:
      amount: vars.due
      currency: GBP
      card_number_prompt: ask_card_number
      expiry_prompt: ask_card_expiry
      cvv_prompt: ask_card_cvv
    outcomes:
      paid: route.agent
      declined: route.agent
      cancelled: route.agent
      error: route.agent
"""


def test_a_complete_payment_step_is_valid() -> None:
    assert problems_of(FLOW) == []


def test_an_unrouted_outcome_is_reported_on_the_outcomes() -> None:
    text = FLOW.replace("      cancelled: route.agent\n", "")
    assert ("outcome-not-routed", 14, 5) in found(text)


def test_an_unknown_outcome_is_refused() -> None:
    text = FLOW.replace(
        "      error: route.agent\n", "      error: route.agent\n      max: route.agent\n"
    )
    assert ("unknown-outcome", 19, 7) in found(text)


@pytest.mark.parametrize(
    ("old", "new", "code", "line", "column"),
    [
        ("currency: GBP", "currency: gbp", "bad-currency", 10, 17),
        ("amount: vars.due", "amount: vars.dew", "unknown-name", 9, 15),
        ("amount: vars.due", "amount: len(vars.due)", "bad-condition", 9, 15),
        ("amount: vars.due", "amount: -5", "bad-value", 9, 15),
        ("cvv_prompt: ask_card_cvv", "cvv_prompt: ask_card_cv", "unknown-prompt", 13, 19),
        ("      cvv_prompt: ask_card_cvv\n", "", "missing-key", 9, 7),
    ],
)
def test_mistakes_point_at_their_position(
    old: str, new: str, code: str, line: int, column: int
) -> None:
    assert (code, line, column) in found(FLOW.replace(old, new))


def test_payment_variables_are_known_to_conditions() -> None:
    text = FLOW.replace("      paid: route.agent\n", "      paid: check\n") + (
        "  - step: check\n"
        "    decide:\n"
        "      - if: vars.card_brand == 'amex'\n"
        "        then: route.agent\n"
        "    else: route.agent\n"
    )
    assert problems_of(text) == []


def test_the_committed_schema_has_the_payment_step() -> None:
    from pathlib import Path

    committed = json.loads(
        (Path(__file__).resolve().parents[2] / "schemas" / "flow.schema.json").read_text()
    )
    assert committed == flow_json_schema()
    assert "PaymentSpec" in json.dumps(committed)
