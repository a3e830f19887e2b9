"""The HTTP processor against a loopback processor: the contract's requests, and every
failure an `error` that routes the caller on, counted in metrics and logged."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from ivr.engine.actions import Transfer
from ivr.engine.events import CallStarted, DigitsCollected
from ivr.engine.runtime import Engine, Turn
from ivr.payments.http_processor import HttpProcessor
from ivr.payments.processor import CardDetails, ChargeRequest, ProcessorError, pay
from tests.payments.conftest import EngineFactory
from tests.payments.processor_server import TOKEN, LoopbackProcessor, serving

PAN, CVV = "5555555555554444", "737"
CARD = CardDetails(PAN, "1229", CVV, "1234")
REQUEST = ChargeRequest(2550, "GBP", "call-1:pay:3", "test")


@pytest.fixture
async def remote() -> AsyncIterator[tuple[LoopbackProcessor, HttpProcessor]]:
    loopback = LoopbackProcessor()
    async with serving(loopback) as url:
        client = HttpProcessor(url, TOKEN, timeout_s=0.5)
        yield loopback, client
        await client.close()


async def test_approve_sends_the_card_once_and_charges_the_token(
    remote: tuple[LoopbackProcessor, HttpProcessor],
) -> None:
    loopback, client = remote
    result = await pay(client, CARD, REQUEST)
    assert result.outcome == "paid"
    assert result.reference is not None
    assert result.reference.startswith("ch_")
    assert result.token is not None
    assert result.token.startswith("tok_")
    (tokens_path, _, tokens_body), (charges_path, headers, charge_body) = loopback.requests
    assert (tokens_path, charges_path) == ("/tokens", "/charges")
    assert tokens_body["card"] == {
        "number": PAN,
        "expiry_month": "12",
        "expiry_year": "2029",
        "cvv": CVV,
        "postcode": "1234",
    }
    assert PAN not in json.dumps(charge_body)
    assert CVV not in json.dumps(charge_body)
    assert charge_body == {
        "token": result.token,
        "amount_minor": 2550,
        "currency": "GBP",
        "description": "test",
    }
    assert headers["Idempotency-Key"] == "call-1:pay:3"


async def test_decline_keeps_its_code(remote: tuple[LoopbackProcessor, HttpProcessor]) -> None:
    loopback, client = remote
    loopback.mode = "decline"
    result = await pay(client, CARD, REQUEST)
    assert (result.outcome, result.detail) == ("declined", "do_not_honour")


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("hang", "timeout"),
        ("garbage", "bad_answer"),
        ("fail", "status_503"),
        ("no_reference", "bad_answer"),
    ],
)
async def test_failures_are_errors_naming_their_kind_only(
    remote: tuple[LoopbackProcessor, HttpProcessor], mode: str, kind: str
) -> None:
    loopback, client = remote
    loopback.mode = mode
    result = await pay(client, CARD, REQUEST)
    assert (result.outcome, result.detail) == ("error", kind)


async def test_a_wrong_token_and_a_dead_processor(
    remote: tuple[LoopbackProcessor, HttpProcessor],
) -> None:
    _, client = remote
    wrong = HttpProcessor(client.base_url, "nope", timeout_s=0.5)
    with pytest.raises(ProcessorError, match="unauthorised"):
        await wrong.tokenise(CARD)
    await wrong.close()
    dead = HttpProcessor("http://127.0.0.1:9", TOKEN, timeout_s=0.5)
    with pytest.raises(ProcessorError) as error:
        await dead.tokenise(CARD)
    assert str(error.value) == "unreachable"
    assert not await dead.ready()
    await dead.close()


async def test_ready_follows_the_health_endpoint(
    remote: tuple[LoopbackProcessor, HttpProcessor],
) -> None:
    loopback, client = remote
    assert await client.ready()
    loopback.healthy = False
    assert not await client.ready()


async def _pay_call(engine: Engine, keys: list[str]) -> Turn:
    turn = await engine.start_call(CallStarted("h1", None, "+441134960000"), flow_id="payments")
    actions = list(turn.actions)
    for key in keys:
        turn = await engine.handle(turn.state, DigitsCollected("h1", key))
        actions += turn.actions
    return Turn(turn.state, actions, turn.records)


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("mode", "outcome", "kind"),
    [
        ("approve", "paid", None),
        ("decline", "declined", None),
        ("hang", "error", "timeout"),
        ("garbage", "error", "bad_answer"),
    ],
)
async def test_through_the_engine_the_caller_is_routed_on(
    make_engine: EngineFactory,
    remote: tuple[LoopbackProcessor, HttpProcessor],
    caplog: pytest.LogCaptureFixture,
    mode: str,
    outcome: str,
    kind: str | None,
) -> None:
    loopback, client = remote
    loopback.mode = mode
    engine = make_engine(client, deadline_s=2.0)
    before = _count("ivr_payments_total", processor="http", outcome=outcome)
    errors_before = _count("ivr_payment_processor_errors_total", processor="http", kind=kind or "")
    caplog.set_level(logging.INFO)
    turn = await _pay_call(engine, [PAN + "#", "1229#", CVV + "#"])
    [transfer] = [a for a in turn.actions if isinstance(a, Transfer)]
    assert transfer.handoff["payment_outcome"] == outcome
    assert transfer.route_name == "agent"
    assert _count("ivr_payments_total", processor="http", outcome=outcome) == before + 1
    if kind is not None:
        assert (
            _count("ivr_payment_processor_errors_total", processor="http", kind=kind)
            == errors_before + 1
        )
        assert "payment processor failed" in caplog.text
    assert PAN not in caplog.text
