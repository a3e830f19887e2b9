"""The payment step in the engine: fields in order, retries, `*`, every outcome, and no digit
anywhere but the sealed entry."""

from __future__ import annotations

import json
import logging

import pytest

from ivr.engine.actions import CollectDigits, Play, Transfer
from ivr.engine.events import CallStarted, DigitsCollected, HungUp, NoInput
from ivr.engine.runtime import Engine, Turn
from ivr.engine.state import CallState
from ivr.journal.records import RecordKind
from ivr.payments.processor import CardDetails, ChargeRequest, ChargeResult, ProcessorError
from tests.payments.conftest import EngineFactory

LINE = "+441134960000"
ALICE = "+447700900123"
PAN, EXPIRY, CVV = "4111111111111111", "1229", "123"


async def play(engine: Engine, ani: str | None, keys: list[str]) -> tuple[Turn, list[CallState]]:
    """The call's last turn with every action and record gathered, and the state as stored
    between each two webhooks (as plain data, what the session store gets)."""
    turn = await engine.start_call(CallStarted("c1", ani, LINE), flow_id="payments")
    actions, records = list(turn.actions), list(turn.records)
    between = [CallState.from_dict(json.loads(json.dumps(turn.state.to_dict())))]
    for key in keys:
        event: NoInput | HungUp | DigitsCollected
        event = NoInput("c1") if key == "t" else HungUp("c1") if key == "h" else None  # type: ignore[assignment]
        if event is None:
            event = DigitsCollected("c1", key)
        turn = await engine.handle(between[-1], event)
        actions += turn.actions
        records += turn.records
        between.append(CallState.from_dict(json.loads(json.dumps(turn.state.to_dict()))))
    return Turn(turn.state, actions, records), between


def transfer(turn: Turn) -> Transfer:
    [found] = [a for a in turn.actions if isinstance(a, Transfer)]
    return found


def prompt_ids(turn: Turn) -> list[str]:
    return [
        p.prompt_id for a in turn.actions if isinstance(a, Play | CollectDigits) for p in a.prompts
    ]


def outcome_of(turn: Turn) -> str | None:
    return next(
        r.outcome
        for r in turn.records
        if r.kind is RecordKind.STEP_OUTCOME and r.step == "take_payment"
    )


async def test_a_paid_card_reaches_the_handoff_masked(make_engine: EngineFactory) -> None:
    turn, between = await play(make_engine(), None, [PAN + "#", EXPIRY + "#", CVV + "#"])
    handoff = transfer(turn).handoff
    assert handoff["payment_outcome"] == "paid"
    assert handoff["card_brand"] == "visa"
    assert handoff["card_last4"] == "1111"
    assert handoff["card_masked"] == "************1111"
    assert handoff["payment_reference"].startswith("TP-")
    assert (handoff["payment_amount"], handoff["payment_currency"]) == ("25.00", "GBP")
    assert "payment_paid" in prompt_ids(turn)
    assert turn.state.payment is None
    for state in between:  # what the session store holds between webhooks
        text = json.dumps(state.to_dict())
        assert PAN not in text
        assert CVV + '"' not in text
        assert EXPIRY not in text


async def test_between_webhooks_the_entry_is_sealed(make_engine: EngineFactory) -> None:
    _, between = await play(make_engine(), None, [PAN + "#", EXPIRY + "#"])
    assert between[-1].payment is not None
    assert between[-1].payment["field"] == "cvv"
    assert set(between[-1].payment["sealed"]) == {"k", "b"}


async def test_verified_caller_pays_and_is_handed_over_verified(make_engine: EngineFactory) -> None:
    turn, _ = await play(make_engine(), ALICE, ["01021980#", PAN + "#", EXPIRY + "#", CVV + "#"])
    handoff = transfer(turn).handoff
    assert handoff["idv_status"] == "identified_and_verified"
    assert (handoff["payment_outcome"], handoff["payment_amount"]) == ("paid", "49.99")


@pytest.mark.parametrize(
    ("keys", "outcome"),
    [
        (["4000000000000002#", EXPIRY + "#", CVV + "#"], "declined"),
        (["4000000000000119#", EXPIRY + "#", CVV + "#"], "error"),
        (["*"], "cancelled"),
        ([PAN + "#", "12*"], "cancelled"),
        ([PAN + "#", EXPIRY + "#", "*#"], "cancelled"),
    ],
)
async def test_every_outcome_is_routed_on(
    make_engine: EngineFactory, keys: list[str], outcome: str
) -> None:
    turn, _ = await play(make_engine(), None, keys)
    assert outcome_of(turn) == outcome
    assert transfer(turn).handoff["payment_outcome"] == outcome
    assert turn.state.ended
    assert turn.state.payment is None


async def test_refused_entries_are_asked_again_field_by_field(make_engine: EngineFactory) -> None:
    keys = ["4111111111111112#", PAN + "#", "0125#", EXPIRY + "#", "1234#", CVV + "#"]
    turn, _ = await play(make_engine(), None, keys)
    assert transfer(turn).handoff["payment_outcome"] == "paid"
    asked = prompt_ids(turn)
    assert asked.count("ask_card_number") == 2
    assert asked.count("ask_card_expiry") == 2
    assert asked.count("payment_entry_invalid") == 3
    problems = [r.data.get("problem") for r in turn.records if r.kind is RecordKind.INPUT]
    assert [p for p in problems if p] == ["bad_check_digit", "expired", "bad_cvv"]


async def test_silence_has_its_own_prompt(make_engine: EngineFactory) -> None:
    turn, _ = await play(make_engine(), None, ["t", PAN + "#", EXPIRY + "#", CVV + "#"])
    asked = prompt_ids(turn)
    assert asked[asked.index("sorry_no_input") + 1] == "ask_card_number"


async def test_attempts_run_out_per_field_and_cancel(make_engine: EngineFactory) -> None:
    turn, _ = await play(make_engine(), None, [PAN + "#", "1#", "t", "9999#"])
    assert outcome_of(turn) == "cancelled"
    [charge] = [
        r for r in turn.records if r.kind is RecordKind.OPERATION and r.step == "take_payment"
    ]
    assert charge.data["detail"] == "max_attempts (expiry)"


async def test_amex_takes_a_four_digit_code(make_engine: EngineFactory) -> None:
    turn, _ = await play(make_engine(), None, ["378282246310005#", EXPIRY + "#", "123#", "1234#"])
    handoff = transfer(turn).handoff
    assert (handoff["card_brand"], handoff["card_last4"]) == ("amex", "0005")
    collects = [a for a in turn.actions if isinstance(a, CollectDigits) and a.attempt >= 1]
    assert all(c.secure for c in collects if c.step == "take_payment")


async def test_the_journal_has_brand_last_four_and_token_only(make_engine: EngineFactory) -> None:
    turn, _ = await play(make_engine(), None, [PAN + "#", EXPIRY + "#", CVV + "#"])
    [charge] = [
        r for r in turn.records if r.kind is RecordKind.OPERATION and r.step == "take_payment"
    ]
    assert charge.outcome == "paid"
    assert charge.data["brand"] == "visa"
    assert charge.data["last4"] == "1111"
    assert charge.data["token"].startswith("tok_test_")
    dumped = json.dumps([r.data for r in turn.records])
    assert PAN not in dumped
    assert EXPIRY not in dumped
    assert '"123"' not in dumped


async def test_hanging_up_mid_payment_drops_the_sealed_entry(make_engine: EngineFactory) -> None:
    turn, _ = await play(make_engine(), None, [PAN + "#", "h"])
    assert turn.state.ended
    assert turn.state.payment is None


class Broken:
    """A processor whose errors carry the card (a careless vendor SDK)."""

    name = "broken"

    async def tokenise(self, card: CardDetails) -> str:
        raise RuntimeError(f"cannot tokenise {card.pan} {card.cvv}")

    async def charge(self, token: str, request: ChargeRequest) -> ChargeResult:
        raise ProcessorError("unreachable")

    async def ready(self) -> bool:
        return False

    async def close(self) -> None:
        return None


async def test_a_processor_exception_never_carries_digits_anywhere(
    make_engine: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    turn, _ = await play(make_engine(Broken()), None, [PAN + "#", EXPIRY + "#", CVV + "#"])
    assert outcome_of(turn) == "error"
    assert transfer(turn).route_name == "agent"
    [charge] = [
        r for r in turn.records if r.kind is RecordKind.OPERATION and r.step == "take_payment"
    ]
    assert charge.data["detail"] == "RuntimeError"
    assert PAN not in caplog.text
    assert PAN not in json.dumps([r.data for r in turn.records])


class Slow(Broken):
    async def tokenise(self, card: CardDetails) -> str:
        import asyncio

        await asyncio.sleep(5)
        return "never"


async def test_a_hung_processor_is_an_error_within_the_deadline(make_engine: EngineFactory) -> None:
    turn, _ = await play(
        make_engine(Slow(), deadline_s=0.2), None, [PAN + "#", EXPIRY + "#", CVV + "#"]
    )
    [charge] = [
        r for r in turn.records if r.kind is RecordKind.OPERATION and r.step == "take_payment"
    ]
    assert (charge.outcome, charge.data["detail"]) == ("error", "timeout")


async def test_without_payments_the_caller_goes_to_an_agent(make_engine: EngineFactory) -> None:
    engine = make_engine()
    engine.payments = None
    turn, _ = await play(engine, None, [])
    assert transfer(turn).route_name == "agent"
