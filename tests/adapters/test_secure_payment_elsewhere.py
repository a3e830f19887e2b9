"""Only Twilio takes cards itself (`<Pay>`): any other gateway handed a secure payment sends
the caller to an agent rather than leave them in silence."""

from __future__ import annotations

import json

import pytest

from ivr.adapters.base import Adapter
from ivr.adapters.jambonz import JambonzAdapter
from ivr.adapters.jambonz_ws import JambonzWsAdapter
from ivr.adapters.json_webhook import JsonWebhookAdapter
from ivr.engine.actions import SecurePayment

from .conftest import context

PAY = SecurePayment(amount="25.00", currency="GBP", connector="Default", step="take_payment")


@pytest.mark.parametrize(
    "adapter",
    [JsonWebhookAdapter("s"), JambonzAdapter(["s"]), JambonzWsAdapter()],
    ids=["json", "jambonz", "jambonz-ws"],
)
def test_a_secure_payment_renders_as_the_send_to_agent_document(adapter: Adapter) -> None:
    rendered = adapter.render([PAY], context())
    assert json.loads(rendered.body) == json.loads(adapter.render_to_agent(context()).body)
