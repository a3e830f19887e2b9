"""Other gateways through the same core: a Twilio call end to end."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp.test_utils import TestClient

from ivr.adapters.signatures import twilio_signature
from ivr.adapters.twilio import TwilioAdapter
from tests.web.conftest import ALICE, DEMO_LINE, MakeClient

TOKEN = "test-twilio-token"


async def _post(client: TestClient[Any, Any], path: str, form: dict[str, str]) -> str:
    url = str(client.make_url(path))
    signature = twilio_signature(TOKEN, url, list(form.items()))
    response = await client.post(
        path,
        data=urlencode(form),
        headers={
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status == 200
    return await response.text()


async def test_twilio_call_through_the_core(make_client: MakeClient) -> None:
    client = await make_client(adapters=[TwilioAdapter(TOKEN)])
    call = {"CallSid": "CA123", "From": ALICE, "To": DEMO_LINE, "CallStatus": "ringing"}
    first = await _post(client, "/twilio/voice", call)
    assert "<Gather" in first
    action = unescape(re.search(r'action="([^"]+)"', first).group(1))  # type: ignore[union-attr]
    parts = urlsplit(action)
    assert parts.path == "/twilio/gather"
    path = f"{parts.path}?{parts.query}"
    answer = {**call, "CallStatus": "in-progress", "Digits": "01021980", "FinishedOnKey": "#"}
    second = await _post(client, path, answer)
    assert second == await _post(client, path, answer)  # a redelivery: same document
    assert "<Say" in second
    status = await _post(client, "/twilio/status", {**call, "CallStatus": "completed"})
    assert "<Response" in status
