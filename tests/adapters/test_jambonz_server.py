"""jambonz end to end: the real server driven as jambonz would, every document validated."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient

from ivr.adapters.jambonz import HookSigner, JambonzAdapter
from ivr.adapters.signatures import jambonz_header

from .conftest import ServerFactory
from .jambonz_check import json_schema, verb_specifications
from .server import ALICE, CARDS_LINE, DEMO_LINE, JAMBONZ_SECRET


class JambonzCall:
    """One call's webhooks, signed and serialised as the feature-server sends them."""

    def __init__(self, server: TestClient[Any, Any], call_sid: str) -> None:
        self.server = server
        self.info = {
            "call_sid": call_sid,
            "account_sid": "acc",
            "application_sid": "app",
            "direction": "inbound",
            "call_id": f"sip-{call_sid}",
        }
        self.documents: list[list[dict[str, Any]]] = []
        self.gather: dict[str, Any] | None = None

    async def post(
        self, url_or_path: str, payload: dict[str, Any], secret: str = JAMBONZ_SECRET
    ) -> tuple[int, Any]:
        path = url_or_path.split(str(self.server.make_url("")), 1)[-1]
        body = json.dumps(
            {**self.info, **payload}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Jambonz-Signature": jambonz_header(secret, int(time.time()), body),
        }
        response = await self.server.post(path, data=body, headers=headers)
        text = await response.text()
        if response.status != 200:
            return response.status, text
        document = json.loads(text)
        self.documents.append(document)
        if document:  # an empty array (status hooks, late events) leaves the stack as it was
            gathers = [verb for verb in document if verb["verb"] == "gather"]
            self.gather = gathers[-1] if gathers else None
        return response.status, document

    async def start(self, ani: str | None, dnis: str) -> list[dict[str, Any]]:
        payload = {
            "from": ani or "anonymous",
            "to": dnis,
            "call_status": "trying",
            "caller_name": "Zoë",
        }
        status, document = await self.post("/jambonz/call", payload)
        assert status == 200, document
        return list(document)

    async def press(self, digits: str) -> list[dict[str, Any]]:
        assert self.gather is not None
        payload = {"call_status": "in-progress", "reason": "dtmfDetected", "digits": digits}
        status, document = await self.post(self.gather["actionHook"], payload)
        assert status == 200, document
        return list(document)

    async def timeout(self) -> list[dict[str, Any]]:
        assert self.gather is not None
        status, document = await self.post(
            self.gather["actionHook"], {"call_status": "in-progress", "reason": "timeout"}
        )
        assert status == 200, document
        return list(document)


@pytest.fixture
async def server(serve: ServerFactory) -> TestClient[Any, Any]:
    return await serve(JambonzAdapter([JAMBONZ_SECRET]))


def verbs(document: list[dict[str, Any]]) -> list[str]:
    return [verb["verb"] for verb in document]


def assert_valid(documents: list[list[dict[str, Any]]]) -> None:
    non_empty = [doc for doc in documents if doc]
    assert verb_specifications(non_empty) == [None] * len(non_empty)
    for document in non_empty:
        assert json_schema(document) == [], document


async def test_ani_caller_verified(server: TestClient[Any, Any]) -> None:
    call = JambonzCall(server, "jz-1")
    first = await call.start(ALICE, DEMO_LINE)
    assert verbs(first) == ["play", "gather"]
    assert first[0]["url"].endswith("/prompts/en-GB/welcome.wav")
    gather = first[1]
    assert gather["input"] == ["digits"]
    assert (gather["minDigits"], gather["maxDigits"], gather["finishOnKey"]) == (1, 8, "#")
    assert "interDigitTimeout" in gather
    assert "say" in gather
    assert "step=date_of_birth" in gather["actionHook"]
    done = await call.press("01021980")
    assert verbs(done)[-2:] == ["tag", "redirect"]
    tag = done[-2]["data"]
    assert tag["route_kind"] == "self_service"
    assert tag["handoff"]["idv_status"] == "identified_and_verified"
    assert tag["handoff"]["customer_id"] == "C1001"
    assert_valid(call.documents)


async def test_account_number_wrong_answer_then_agent_dial(server: TestClient[Any, Any]) -> None:
    call = JambonzCall(server, "jz-2")
    await call.start(None, CARDS_LINE)
    await call.press("12345678")
    retry = await call.press("01011999")
    assert call.gather is not None
    assert "attempt=2" in call.gather["actionHook"]
    assert verbs(retry)[-1] == "gather"
    done = await call.press("01021980")
    assert verbs(done)[-2:] == ["tag", "dial"]
    dial = done[-1]
    assert dial["target"] == [{"type": "user", "name": "general"}]
    assert dial["headers"]["X-Idv-Status"] == "identified_and_verified"
    assert dial["tag"] == done[-2]["data"]
    assert_valid(call.documents)


async def test_timeouts_and_dont_have(server: TestClient[Any, Any]) -> None:
    call = JambonzCall(server, "jz-3")
    await call.start(None, CARDS_LINE)
    await call.timeout()
    assert call.gather is not None
    assert "attempt=2" in call.gather["actionHook"]
    done = await call.press("*")
    assert done[-1]["verb"] == "dial"
    assert done[-1]["headers"] == {"X-Idv-Status": "not_identified"}
    assert_valid(call.documents)


async def test_status_hook_ends_the_call(server: TestClient[Any, Any]) -> None:
    call = JambonzCall(server, "jz-4")
    await call.start(None, CARDS_LINE)
    status, document = await call.post("/jambonz/status", {"call_status": "in-progress"})
    assert (status, document) == (200, [])
    status, document = await call.post(
        "/jambonz/status", {"call_status": "completed", "duration": 12}
    )
    assert status == 200
    late = await call.press("12345678")
    assert late == []  # after the end: nothing, the stack simply ends


async def test_unknown_call_gets_a_valid_agent_document(server: TestClient[Any, Any]) -> None:
    call = JambonzCall(server, "jz-lost")
    # a hook we handed out before the call's state was lost: it carries our MAC
    query = urlencode(
        HookSigner([JAMBONZ_SECRET]).sign("jz-lost", [("step", "x"), ("attempt", "1")])
    )
    status, document = await call.post(f"/jambonz/action?{query}", {"reason": "timeout"})
    assert status == 200
    assert verbs(document) == ["tag", "dial"]
    assert_valid([document])


async def test_signature_refused_through_the_server(server: TestClient[Any, Any]) -> None:
    call = JambonzCall(server, "jz-bad")
    status, _ = await call.post("/jambonz/call", {"from": ALICE, "to": DEMO_LINE}, secret="wrong")
    assert status == 403
    response = await server.post("/jambonz/call", json={"call_sid": "x"})
    assert response.status == 403
