"""jambonz webhooks over real HTTP: signature window, events, trust, delivery keys."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.test_utils import TestClient

from ivr.adapters.jambonz import HookSigner, JambonzAdapter, caller_id_trust
from ivr.adapters.signatures import jambonz_header
from ivr.engine.events import CallerIdTrust
from ivr.settings import load_settings

from .conftest import ClientFactory, mount

SECRET = "wh_secret_test"
CALL = {
    "call_sid": "b1f3c0de-0000-4000-8000-000000000001",
    "account_sid": "acc",
    "application_sid": "app",
    "direction": "inbound",
    "from": "+441134960001",
    "to": "+441134960000",
    "call_id": "sip-call-id",
    "call_status": "trying",
    "sip_status": 100,
}


async def post(
    client: TestClient[Any, Any],
    path: str,
    payload: dict[str, Any],
    *,
    secret: str = SECRET,
    age: int = 0,
    header: str | None = None,
    hook_signed: bool = True,
) -> tuple[int, Any]:
    """POST as jambonz does: JSON.stringify-like body (no ASCII escaping) and its signature.

    An action hook's query gets our MAC for the call, as the hooks we hand out carry it.
    """
    if hook_signed and path.startswith("/jambonz/action?"):
        route, _, query = path.partition("?")
        pairs = HookSigner([secret]).sign(payload["call_sid"], parse_qsl(query))
        path = f"{route}?{urlencode(pairs)}"
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    if header is None:
        header = jambonz_header(secret, int(time.time()) - age, body)
    response = await client.post(
        path, data=body, headers={"Content-Type": "application/json", "Jambonz-Signature": header}
    )
    text = await response.text()
    return response.status, json.loads(text) if response.status == 200 else text


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client(mount(JambonzAdapter([SECRET])))


async def test_call_hook(client: TestClient[Any, Any]) -> None:
    status, body = await post(client, "/jambonz/call", CALL)
    assert status == 200
    assert body["type"] == "CallStarted"
    assert body["event"] == {
        "call_id": CALL["call_sid"],
        "ani": "+441134960001",
        "dnis": "+441134960000",
        "caller_id_trust": "unknown",
        "context": {},  # an inbound call: no callback context
    }


def sip(**headers: str) -> dict[str, Any]:
    return {"sip": {"headers": headers, "method": "INVITE"}}


@pytest.mark.parametrize(
    ("payload", "trust"),
    [
        (
            sip(**{"p-asserted-identity": "<sip:+4411;verstat=TN-Validation-Passed-A@c.example>"}),
            "A",
        ),
        (sip(**{"P-Asserted-Identity": "<sip:+1415;verstat=TN-Validation-Passed-B@c>"}), "B"),
        (sip(**{"from": "<sip:+1415;verstat=TN-Validation-Passed@c>;tag=1"}), "C"),
        (sip(**{"from": "<sip:+1415;verstat=TN-Validation-Failed@c>;tag=1"}), "failed"),
        (sip(**{"from": "<sip:+1415;verstat=No-TN-Validation@c>;tag=1"}), "unknown"),
        (sip(**{"from": "<sip:+1415@c>;tag=1"}), "unknown"),
        ({}, "unknown"),
        ({"sip": "garbage"}, "unknown"),
    ],
)
def test_caller_id_trust_from_sip_headers(payload: dict[str, Any], trust: str) -> None:
    assert caller_id_trust(payload) is CallerIdTrust(trust)


async def test_action_hook_digits(client: TestClient[Any, Any]) -> None:
    path = "/jambonz/action?step=identify&attempt=2&max=8"
    payload = {**CALL, "call_status": "in-progress", "reason": "dtmfDetected", "digits": "12345678"}
    _, body = await post(client, path, payload)
    assert body["type"] == "DigitsCollected"
    assert body["event"] == {
        "call_id": CALL["call_sid"],
        "digits": "12345678",
        "terminated_by": "max_digits",
    }
    assert body["delivery_key"].startswith("action:")
    _, body = await post(client, path, {**payload, "digits": "*"})
    assert body["event"]["digits"] == "*"
    assert body["event"]["terminated_by"] == "inter_digit_timeout"


@pytest.mark.parametrize(
    "extra",
    [
        {"reason": "timeout"},
        {"reason": "error", "details": {"msg": "x"}},
        {"reason": "speechDetected", "speech": {}},
        {"reason": "dtmfDetected", "digits": ""},
    ],
)
async def test_action_hook_without_digits_is_no_input(
    client: TestClient[Any, Any], extra: dict[str, Any]
) -> None:
    _, body = await post(client, "/jambonz/action?step=identify&attempt=1", {**CALL, **extra})
    assert body["type"] == "NoInput"


async def test_played_redirect_is_prompt_finished(client: TestClient[Any, Any]) -> None:
    _, body = await post(client, "/jambonz/action?event=played", CALL)
    assert body["type"] == "PromptFinished"


@pytest.mark.parametrize("status", ["completed", "failed", "busy", "no-answer"])
async def test_terminal_status_is_hang_up(client: TestClient[Any, Any], status: str) -> None:
    _, body = await post(client, "/jambonz/status", {**CALL, "call_status": status})
    assert body["type"] == "HungUp"


async def test_other_status_and_b_leg_change_nothing(client: TestClient[Any, Any]) -> None:
    _, body = await post(client, "/jambonz/status", {**CALL, "call_status": "in-progress"})
    assert body["type"] == "TransferResult"
    b_leg = {**CALL, "call_status": "completed", "direction": "outbound"}
    _, body = await post(client, "/jambonz/status", b_leg)
    assert body["type"] == "TransferResult"


async def test_redelivery_same_key(client: TestClient[Any, Any]) -> None:
    path = "/jambonz/action?step=identify&attempt=1&max=8"
    payload = {**CALL, "reason": "dtmfDetected", "digits": "1234"}
    _, first = await post(client, path, payload)
    _, again = await post(client, path, payload, age=10)  # new timestamp, same content
    _, other = await post(client, path, {**payload, "digits": "4321"})
    assert first["delivery_key"] == again["delivery_key"] != other["delivery_key"]


async def test_non_ascii_body_is_verified_on_raw_bytes(client: TestClient[Any, Any]) -> None:
    status, _ = await post(client, "/jambonz/call", {**CALL, "caller_name": "Zoë Ångström"})
    assert status == 200


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"secret": "wrong"}, 403),
        ({"age": 301}, 403),
        ({"age": 290}, 200),
        ({"header": ""}, 403),
        ({"header": "t=1,v1=00"}, 403),
    ],
)
async def test_signature_checks(
    client: TestClient[Any, Any], kwargs: dict[str, Any], expected: int
) -> None:
    status, _ = await post(client, "/jambonz/call", CALL, **kwargs)
    assert status == expected


async def test_missing_header_and_tampered_body(client: TestClient[Any, Any]) -> None:
    response = await client.post("/jambonz/call", json=CALL)
    assert response.status == 403
    body = json.dumps(CALL).encode()
    header = jambonz_header(SECRET, int(time.time()), body)
    response = await client.post(
        "/jambonz/call",
        data=body.replace(b"trying", b"tryinG"),
        headers={"Jambonz-Signature": header},
    )
    assert response.status == 403


async def test_rotation_and_environment(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_JAMBONZ_SECRET", "new-secret, old-secret")
    client = await make_client(mount(JambonzAdapter(load_settings().jambonz_secrets())))
    for secret in ("new-secret", "old-secret"):
        status, _ = await post(client, "/jambonz/call", CALL, secret=secret)
        assert status == 200
    monkeypatch.delenv("IVR_JAMBONZ_SECRET")
    client = await make_client(mount(JambonzAdapter(load_settings().jambonz_secrets())))
    status, _ = await post(client, "/jambonz/call", CALL)
    assert status == 403


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1,2]", b'{"from":"+1"}', b'{"call_sid":""}', b"\xff\xfe"],
)
async def test_malformed_signed_bodies_are_400(client: TestClient[Any, Any], body: bytes) -> None:
    header = jambonz_header(SECRET, int(time.time()), body)
    response = await client.post("/jambonz/call", data=body, headers={"Jambonz-Signature": header})
    assert response.status == 400


async def test_status_without_call_status_is_400(client: TestClient[Any, Any]) -> None:
    payload = {k: v for k, v in CALL.items() if k != "call_status"}
    status, _ = await post(client, "/jambonz/status", payload)
    assert status == 400
