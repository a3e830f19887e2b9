"""Twilio webhooks over real HTTP: signatures (port, proxy), events, StirVerstat, delivery keys."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from ivr.adapters.twilio import TwilioAdapter, caller_id_trust
from ivr.bootstrap import Project
from ivr.engine.events import CallerIdTrust
from ivr.settings import load_settings
from ivr.web.adapters import default_adapters
from ivr.web.settings import ServeSettings

from .conftest import ClientFactory, mount
from .server import ROOT

TOKEN = "twilio-test-token"
CALL = {
    "CallSid": "CA0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": "+14158675309",
    "To": "+441134960000",
    "CallStatus": "ringing",
    "Direction": "inbound",
    "ApiVersion": "2010-04-01",
}


async def post(
    client: TestClient[Any, Any],
    path: str,
    form: dict[str, str],
    *,
    signed_url: str | None = None,
    token: str = TOKEN,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POST `form` as Twilio would, signed with the official validator over `signed_url`."""
    url = signed_url or str(client.make_url(path))
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, form)
    all_headers = {"X-Twilio-Signature": signature, **(headers or {})}
    response = await client.post(path, data=form, headers=all_headers)
    body = await response.json() if response.status == 200 else await response.text()
    return response.status, body


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client(mount(TwilioAdapter(TOKEN)))


async def test_incoming_call(client: TestClient[Any, Any]) -> None:
    status, body = await post(client, "/twilio/voice", CALL)
    assert status == 200
    assert body["type"] == "CallStarted"
    assert body["event"] == {
        "call_id": CALL["CallSid"],
        "ani": "+14158675309",
        "dnis": "+441134960000",
        "caller_id_trust": "unknown",
        "context": {},  # an inbound call: no callback context
    }


async def test_withheld_number_is_no_ani(client: TestClient[Any, Any]) -> None:
    _, body = await post(client, "/twilio/voice", {**CALL, "From": ""})
    assert body["event"]["ani"] is None


@pytest.mark.parametrize(
    ("verstat", "trust"),
    [
        ("TN-Validation-Passed-A", CallerIdTrust.FULL),
        ("TN-Validation-Passed-B", CallerIdTrust.PARTIAL),
        ("TN-Validation-Passed-C", CallerIdTrust.GATEWAY),
        ("TN-Validation-Passed-A-Diverted", CallerIdTrust.FULL),
        ("TN-Validation-Passed-B-Passthrough", CallerIdTrust.PARTIAL),
        ("TN-Validation-Failed-A", CallerIdTrust.FAILED),
        ("TN-Validation-Failed-C", CallerIdTrust.FAILED),
        ("TN-Validation-Failed", CallerIdTrust.FAILED),
        ("No-TN-Validation", CallerIdTrust.UNKNOWN),
        ("TN-Validation-Passed-D", CallerIdTrust.UNKNOWN),
        ("TN-Validation-Passed-AB", CallerIdTrust.UNKNOWN),
        ("", CallerIdTrust.UNKNOWN),
        (None, CallerIdTrust.UNKNOWN),
    ],
)
def test_stir_verstat_mapping(verstat: str | None, trust: CallerIdTrust) -> None:
    assert caller_id_trust(verstat) is trust


async def test_stir_verstat_reaches_the_event(client: TestClient[Any, Any]) -> None:
    _, body = await post(client, "/twilio/voice", {**CALL, "StirVerstat": "TN-Validation-Passed-B"})
    assert body["event"]["caller_id_trust"] == "B"


async def test_gather_digits_and_key(client: TestClient[Any, Any]) -> None:
    path = "/twilio/gather?call=CA1&step=identify&attempt=2&max=8"
    status, body = await post(client, path, {**CALL, "Digits": "12345678"})
    assert status == 200
    assert body["type"] == "DigitsCollected"
    assert body["event"]["digits"] == "12345678"
    assert body["event"]["terminated_by"] == "max_digits"
    assert body["delivery_key"].startswith("gather:")

    _, body = await post(client, path, {**CALL, "Digits": "1234", "FinishedOnKey": "#"})
    assert body["event"]["terminated_by"] == "term_key"
    _, body = await post(client, path, {**CALL, "Digits": "*"})
    assert body["event"] == {
        "call_id": CALL["CallSid"],
        "digits": "*",
        "terminated_by": "inter_digit_timeout",
    }


@pytest.mark.parametrize("form_extra", [{"Digits": ""}, {}])
async def test_empty_digits_is_no_input(
    client: TestClient[Any, Any], form_extra: dict[str, str]
) -> None:
    _, body = await post(client, "/twilio/gather?step=identify&attempt=1", {**CALL, **form_extra})
    assert body["type"] == "NoInput"


async def test_prompt_only_redirect_is_prompt_finished(client: TestClient[Any, Any]) -> None:
    _, body = await post(client, "/twilio/gather?event=played", CALL)
    assert body["type"] == "PromptFinished"


@pytest.mark.parametrize("status", ["completed", "busy", "failed", "no-answer", "canceled"])
async def test_terminal_status_is_hang_up(client: TestClient[Any, Any], status: str) -> None:
    _, body = await post(client, "/twilio/status", {**CALL, "CallStatus": status})
    assert body["type"] == "HungUp"


async def test_other_status_changes_nothing(client: TestClient[Any, Any]) -> None:
    _, body = await post(client, "/twilio/status", {**CALL, "CallStatus": "in-progress"})
    assert body["type"] == "TransferResult"


async def test_redelivery_has_the_same_key_and_other_events_do_not(
    client: TestClient[Any, Any],
) -> None:
    path = "/twilio/gather?step=identify&attempt=1&max=8"
    _, first = await post(client, path, {**CALL, "Digits": "1234"})
    _, again = await post(client, path, {**CALL, "Digits": "1234"})
    _, other = await post(client, path, {**CALL, "Digits": "1235"})
    _, next_attempt = await post(
        client, path.replace("attempt=1", "attempt=2"), {**CALL, "Digits": "1234"}
    )
    assert first["delivery_key"] == again["delivery_key"]
    assert len({first["delivery_key"], other["delivery_key"], next_attempt["delivery_key"]}) == 3


async def test_missing_signature_is_403(client: TestClient[Any, Any]) -> None:
    response = await client.post("/twilio/voice", data=CALL)
    assert response.status == 403


async def test_wrong_token_is_403(client: TestClient[Any, Any]) -> None:
    status, _ = await post(client, "/twilio/voice", CALL, token="another-token")
    assert status == 403


async def test_tampered_form_is_403(client: TestClient[Any, Any]) -> None:
    url = str(client.make_url("/twilio/gather?step=id&attempt=1"))
    signature = RequestValidator(TOKEN).compute_signature(url, {**CALL, "Digits": "1234"})
    status, _ = await post(
        client, "/twilio/gather?step=id&attempt=1", {**CALL, "Digits": "9999"}, signature=signature
    )
    assert status == 403


async def test_tampered_query_is_403(client: TestClient[Any, Any]) -> None:
    url = str(client.make_url("/twilio/gather?step=id&attempt=1"))
    signature = RequestValidator(TOKEN).compute_signature(url, CALL)
    status, _ = await post(client, "/twilio/gather?step=id&attempt=3", CALL, signature=signature)
    assert status == 403


async def test_signed_without_port_is_accepted(client: TestClient[Any, Any]) -> None:
    url = str(client.make_url("/twilio/voice"))
    without_port = url.replace(f":{client.port}", "")
    status, _ = await post(client, "/twilio/voice", CALL, signed_url=without_port)
    assert status == 200


async def test_no_token_configured_refuses(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IVR_TWILIO_AUTH_TOKEN", raising=False)
    client = await make_client(mount(TwilioAdapter()))
    status, _ = await post(client, "/twilio/voice", CALL, token="")
    assert status == 403


async def test_token_from_environment(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IVR_TWILIO_AUTH_TOKEN reaches the adapter through the settings `ivr serve` reads."""
    monkeypatch.setenv("IVR_TWILIO_AUTH_TOKEN", "env-token")
    project = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
    mounted = default_adapters(ServeSettings(project=project, env=load_settings()))
    (adapter,) = [adapter for adapter in mounted if adapter.name == "twilio"]
    client = await make_client(mount(adapter))
    status, _ = await post(client, "/twilio/voice", CALL, token="env-token")
    assert status == 200


class TestBehindAProxy:
    """Twilio signs https://ivr.example.com/...; the server sees http://127.0.0.1:PORT/..."""

    PUBLIC = "https://ivr.example.com/twilio/voice"

    async def test_accepted_with_public_url(self, make_client: ClientFactory) -> None:
        client = await make_client(
            mount(TwilioAdapter(TOKEN), public_url="https://ivr.example.com/")
        )
        status, _ = await post(client, "/twilio/voice", CALL, signed_url=self.PUBLIC)
        assert status == 200
        status, _ = await post(
            client, "/twilio/voice", CALL, signed_url="https://ivr.example.com:443/twilio/voice"
        )
        assert status == 200

    async def test_refused_without_public_url_even_with_forwarded_headers(
        self, client: TestClient[Any, Any]
    ) -> None:
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ivr.example.com"}
        status, _ = await post(
            client, "/twilio/voice", CALL, signed_url=self.PUBLIC, headers=forwarded
        )
        assert status == 403

    async def test_internal_url_refused_once_public_url_is_set(
        self, make_client: ClientFactory
    ) -> None:
        client = await make_client(
            mount(TwilioAdapter(TOKEN), public_url="https://ivr.example.com")
        )
        status, _ = await post(client, "/twilio/voice", CALL)
        assert status == 403

    async def test_public_url_with_a_path_prefix(self, make_client: ClientFactory) -> None:
        client = await make_client(
            mount(TwilioAdapter(TOKEN), public_url="https://example.com/ivr")
        )
        status, _ = await post(
            client, "/twilio/voice?x=1", CALL, signed_url="https://example.com/ivr/twilio/voice?x=1"
        )
        assert status == 200


async def test_malformed_requests_are_400(client: TestClient[Any, Any]) -> None:
    status, _ = await post(client, "/twilio/voice", {"From": "+1"})
    assert status == 400
    status, _ = await post(client, "/twilio/status", {"CallSid": "CA1"})
    assert status == 400
    url = str(client.make_url("/twilio/voice"))
    bad = b"CallSid=\xff\xfe"
    response = await client.post(
        "/twilio/voice",
        data=bad,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, {}),
        },
    )
    assert response.status == 400
