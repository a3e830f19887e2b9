"""Twilio `<Pay>` pass-through: a line configured for it renders `<Pay>` with its connector
and amount, and routes on the result callback; the digits never reach the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from aiohttp.test_utils import TestClient
from twilio.twiml.voice_response import Pay, Prompt, Say

from ivr.adapters.json_webhook import JsonWebhookAdapter
from ivr.adapters.twilio import TwilioAdapter
from ivr.bootstrap import Project
from ivr.engine.actions import Transfer
from simulator.remote_json import JsonDriver
from simulator.remote_twilio import RemoteTwilioDriver

from .conftest import ServerFactory
from .server import ROOT, TWILIO_TOKEN

PAY_LINE = "+441134960004"
SECRET = "pay-json-secret"


@pytest.fixture
async def server(serve: ServerFactory) -> TestClient[Any, Any]:
    return await serve(TwilioAdapter(TWILIO_TOKEN), JsonWebhookAdapter(SECRET))


@pytest.fixture
async def driver(server: TestClient[Any, Any]) -> AsyncIterator[RemoteTwilioDriver]:
    project = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
    remote = RemoteTwilioDriver(str(server.make_url("")), TWILIO_TOKEN, project=project)
    yield remote
    await remote.close()


def transfer_of(actions: Any) -> Transfer:
    [found] = [a for a in actions if isinstance(a, Transfer)]
    return found


async def test_the_line_renders_pay_as_twilios_library_names_it(driver: RemoteTwilioDriver) -> None:
    await driver.start("CA-pay-1", None, PAY_LINE, "unknown")
    pay = driver.pending_pay
    assert pay is not None
    assert pay.get("paymentConnector") == "Default"
    assert (pay.get("chargeAmount"), pay.get("currency")) == ("25.00", "gbp")
    assert "event=pay" in (pay.get("action") or "")
    assert "step=take_payment" in (pay.get("action") or "")
    assert [p.get("for") for p in pay.findall("Prompt")] == [
        "payment-card-number",
        "expiration-date",
        "security-code",
    ]
    # the same element from Twilio's own helper library: every attribute name and value agree
    reference = Pay(
        input="dtmf",
        action=pay.get("action"),
        payment_connector="Default",
        charge_amount="25.00",
        currency="gbp",
        postal_code=False,
        security_code=True,
        max_attempts=3,
        timeout=pay.get("timeout"),
        valid_card_types="visa mastercard amex discover",
        description="Example Bank card payment",
    )
    prompt = Prompt(for_="payment-card-number")
    prompt.append(Say("x"))
    theirs = ET.fromstring(str(reference.to_xml(xml_declaration=False)))
    assert {k: v.lower() for k, v in theirs.attrib.items()} == {
        k: v.lower() for k, v in pay.attrib.items()
    }
    assert (
        ET.fromstring(str(prompt.to_xml(xml_declaration=False))).get("for") == "payment-card-number"
    )


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        ("success", "paid"),
        ("payment-connector-error", "declined"),
        ("caller-interrupted-with-star", "cancelled"),
        ("too-many-failed-attempts", "cancelled"),
        ("validation-error", "error"),
        ("something-new", "error"),
    ],
)
async def test_the_result_callback_routes_the_outcome(
    driver: RemoteTwilioDriver, result: str, outcome: str
) -> None:
    await driver.start("CA-pay-" + result, None, PAY_LINE, "unknown")
    done = await driver.pay(
        result,
        PaymentCardNumber="xxxxxxxxxxxx1111",
        PaymentCardType="visa",
        PaymentConfirmationCode="ch_a9dc6297",
        PaymentToken="tok_twilio_1",
        ExpirationDate="1229",
    )
    handoff = transfer_of(done).handoff
    assert handoff["payment_outcome"] == outcome
    assert (handoff["card_last4"], handoff["card_brand"]) == ("1111", "visa")
    assert handoff["payment_reference"] == "ch_a9dc6297"


async def test_an_unsigned_callback_is_refused_and_changes_nothing(
    driver: RemoteTwilioDriver, server: TestClient[Any, Any]
) -> None:
    await driver.start("CA-pay-forged", None, PAY_LINE, "unknown")
    pay = driver.pending_pay
    assert pay is not None
    path = (pay.get("action") or "").split("//", 1)[1].split("/", 1)[1]
    forged = await server.post(
        "/" + path,
        data={"CallSid": "CA-pay-forged", "Result": "success"},
        headers={"X-Twilio-Signature": "forged"},
    )
    assert forged.status == 403
    done = await driver.pay("caller-interrupted-with-star")
    assert transfer_of(done).handoff["payment_outcome"] == "cancelled"


async def test_a_callback_without_result_is_a_bad_request(driver: RemoteTwilioDriver) -> None:
    await driver.start("CA-pay-noresult", None, PAY_LINE, "unknown")
    with pytest.raises(RuntimeError, match="400"):
        await driver.pay("")


async def test_the_same_line_by_another_gateway_goes_to_an_agent(
    server: TestClient[Any, Any],
) -> None:
    json_driver = JsonDriver(str(server.make_url("")), SECRET)
    try:
        actions = await json_driver.start("json-pay-1", None, PAY_LINE, "unknown")
        assert transfer_of(actions).route_name in ("agent", "fallback")
    finally:
        await json_driver.close()
