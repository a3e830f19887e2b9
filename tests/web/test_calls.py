"""The call-handling core over real HTTP: signatures, malformed requests, duplicates,
ended and unknown calls, per-call serialisation."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from ivr.web.keys import STORE
from tests.web.conftest import CARDS_LINE, Caller, MakeClient, kinds, transfer


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def stored(client: TestClient[Any, Any], call_id: str) -> dict[str, Any] | None:
    data: dict[str, Any] | None = await client.app[STORE].get(call_id)
    return data


async def test_verified_call_routes_to_self_service(client: TestClient[Any, Any]) -> None:
    caller = Caller(client)
    first = await caller.start()
    assert kinds(first) == ["play", "collect"]
    assert first["call"]["customer_id"] == "C1001"
    done = await caller.press("01021980#")
    assert transfer(done)["kind"] == "self_service"
    assert done["call"]["idv_status"] == "identified_and_verified"
    assert done["call"]["ended"] is True


async def test_bad_missing_or_stale_signature_is_403_and_changes_nothing(
    client: TestClient[Any, Any],
) -> None:
    caller = Caller(client)
    await caller.start()
    before = await stored(client, caller.call_id)
    body = caller.body("digits", digits="01021980#")
    assert (await caller.post_raw(body, secret="wrong"))[0] == 403
    assert (await caller.post_raw(body, sign=False))[0] == 403
    # 302 s: the signed time is whole seconds, so 301 could land inside the 300 s window
    assert (await caller.post_raw(body, at=time.time() - 302))[0] == 403
    assert (await caller.post_raw(body, at=time.time() + 302))[0] == 403
    tampered = body.replace(b"01021980", b"01021981")
    headers = {"X-IVR-Signature": "t=1,v1=00"}
    response = await client.post("/json/events", data=tampered, headers=headers)
    assert response.status == 403
    assert await stored(client, caller.call_id) == before
    unknown = Caller(client)
    assert (await unknown.post_raw(unknown.body("call.started"), secret="wrong"))[0] == 403
    assert await stored(client, unknown.call_id) is None


async def test_malformed_requests_are_400_and_change_nothing(
    client: TestClient[Any, Any],
) -> None:
    caller = Caller(client)
    await caller.start()
    before = await stored(client, caller.call_id)
    bad = [
        b"not json",
        b"[1, 2]",
        caller.body("digits", digits="12ab"),
        caller.body("digits", digits="1" * 65),
        caller.body("teleport"),
        caller.body("digits", digits="1234", terminated_by="whenever"),
        caller.body("call.started", caller_id_trust="Z"),
        b'{"type": "no_input", "call_id": "x"}',
    ]
    for body in bad:
        status, doc = await caller.post_raw(body)
        assert status == 400, body
        assert "12ab" not in str(doc)  # keys are never echoed
    assert await stored(client, caller.call_id) == before


async def test_body_over_the_limit_is_413(make_client: MakeClient) -> None:
    client = await make_client(max_body=1024)
    caller = Caller(client)
    status, _ = await caller.post_raw(caller.body("call.started", padding="x" * 2000))
    assert status == 413
    assert await stored(client, caller.call_id) is None


async def test_duplicate_delivery_returns_the_same_answer_and_counts_once(
    client: TestClient[Any, Any],
) -> None:
    caller = Caller(client)
    await caller.start()
    events = metric("ivr_events_total", adapter="json", kind="DigitsCollected")
    wrong = await caller.press("11111111#", event_id="wrong-1")
    again = await caller.press("11111111#", event_id="wrong-1")
    assert again == wrong
    assert wrong["call"]["attempts"]["date_of_birth"] == 2
    state = await stored(client, caller.call_id)
    assert state is not None
    assert state["attempts"]["date_of_birth"] == 2
    assert metric("ivr_events_total", adapter="json", kind="DigitsCollected") == events + 1


async def test_concurrent_redeliveries_apply_once(client: TestClient[Any, Any]) -> None:
    caller = Caller(client)
    await caller.start()
    answers = await asyncio.gather(*(caller.press("11111111#", event_id="w") for _ in range(5)))
    assert all(answer == answers[0] for answer in answers)
    state = await stored(client, caller.call_id)
    assert state is not None
    assert state["attempts"]["date_of_birth"] == 2


async def test_concurrent_events_of_one_call_are_serialised(client: TestClient[Any, Any]) -> None:
    caller = Caller(client)
    await caller.start()
    await asyncio.gather(*(caller.press("11111111#", event_id=f"w{i}") for i in range(2)))
    state = await stored(client, caller.call_id)
    assert state is not None
    assert state["attempts"]["date_of_birth"] == 3


async def test_event_after_the_end_changes_nothing(client: TestClient[Any, Any]) -> None:
    caller = Caller(client)
    await caller.start()
    await caller.send("hangup")
    ended = await stored(client, caller.call_id)
    assert ended is not None
    assert ended["ended_by"] == "hangup"
    late = await caller.press("01021980#")
    assert late["actions"] == []
    assert late["call"]["ended"] is True
    assert await stored(client, caller.call_id) == ended


async def test_unknown_call_gets_a_document_sending_the_caller_to_an_agent(
    client: TestClient[Any, Any],
) -> None:
    caller = Caller(client)
    doc = await caller.press("01021980#")
    assert transfer(doc)["kind"] == "agent"
    assert transfer(doc)["target"] == "general"  # the agent route of config/routes.yaml
    assert doc["call"] is None
    assert await stored(client, caller.call_id) is None


async def test_a_started_call_started_again_changes_nothing(client: TestClient[Any, Any]) -> None:
    caller = Caller(client)
    await caller.start()
    before = await stored(client, caller.call_id)
    again = await caller.start(dnis=CARDS_LINE)
    assert again["actions"] == []
    assert await stored(client, caller.call_id) == before


async def test_health_readiness_and_openapi(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    flows = {
        "callback": "1",
        "cards": "1",
        "idv": "1",
        "payments": "1",
        "secure_payment": "1",
        "stepup": "1",
        "wait": "1",
    }
    assert (await ready.json())["flows"] == flows
    spec = await (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/json/events" in spec["paths"]


async def test_an_unexpected_error_still_sends_the_caller_to_an_agent(
    make_client: MakeClient,
) -> None:
    from ivr.adapters.json_webhook import JsonWebhookAdapter
    from tests.web.conftest import SECRET

    class Broken(JsonWebhookAdapter):
        async def parse(self, request: Any, body: bytes) -> Any:
            raise RuntimeError("a bug")

    client = await make_client(adapters=[Broken(SECRET)])
    status, doc = await Caller(client).post_raw(b"{}")
    assert status == 200
    assert transfer(doc)["kind"] == "agent"


def test_fast_state_dict_matches_to_dict() -> None:
    from ivr.calls.pipeline import state_dict
    from ivr.engine.state import CallState, Frame

    state = CallState("c", "idv", "1", "demo", "en-GB", None, None, "A", attempts={"x": 2})
    state.stack.append(Frame("idv", "1", "s_x"))
    state.variables["v"] = [1, {"a": 2}]
    assert state_dict(state) == state.to_dict()


async def test_call_locks_serialise_in_arrival_order_and_forget_idle_calls() -> None:
    from ivr.calls.locks import CallLocks

    locks = CallLocks()
    order: list[str] = []

    async def event(name: str, call_id: str = "c1") -> None:
        waiter = locks.take(call_id)
        if waiter is not None:
            await waiter
        try:
            order.append(f"{name}+")
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            order.append(f"{name}-")
        finally:
            locks.release(call_id)

    await asyncio.gather(event("a"), event("b"), event("c"), event("x", call_id="c2"))
    in_c1 = [step for step in order if not step.startswith("x")]
    assert in_c1 == ["a+", "a-", "b+", "b-", "c+", "c-"]
    assert order.index("x+") < order.index("a-")  # another call does not wait
    assert len(locks) == 0


async def test_a_cancelled_waiter_neither_keeps_nor_loses_the_call() -> None:
    from ivr.calls.locks import CallLocks

    locks = CallLocks()
    assert locks.take("c") is None  # held
    first = locks.take("c")
    second = locks.take("c")
    assert first is not None
    assert second is not None
    locks.abandon("c", first)  # cancelled while waiting: just leaves the queue
    locks.release("c")
    assert first.cancelled()
    assert second.done()
    assert not second.cancelled()
    locks.release("c")  # the second is done: the call is free
    assert len(locks) == 0
    assert locks.take("c") is None
    third = locks.take("c")
    assert third is not None
    locks.release("c")  # the call goes to the third...
    locks.abandon("c", third)  # ...which was cancelled as it was handed over: passed on
    assert len(locks) == 0


class _MemoryDirectory:
    """Alice in memory: operations answer without ever waiting."""

    async def lookup_by_phone(self, e164: str) -> Any:
        from ivr.directory.port import Customer, LookupResult, LookupStatus

        if e164 == "+447700900123":
            return LookupResult.found(Customer("C1001", "Alice Example"))
        return LookupResult(LookupStatus.NOT_FOUND)

    async def lookup_by_account(self, account_number: str) -> Any:
        from ivr.directory.port import LookupResult, LookupStatus

        return LookupResult(LookupStatus.NOT_FOUND)

    async def verify_answer(self, customer_id: str, field: str, answer: str) -> Any:
        from ivr.directory.port import VerifyStatus

        return VerifyStatus.VERIFIED if answer == "01021980" else VerifyStatus.WRONG

    async def close(self) -> None:
        return None


async def test_an_engine_that_never_waits_still_runs_under_the_deadline(
    make_client: MakeClient, monkeypatch: Any
) -> None:
    """Even the in-memory path runs under asyncio.timeout (no hand-armed timer)."""

    armed: list[str] = []

    def spy(original: Any) -> Any:
        def arm(*args: Any) -> Any:
            caller_module = sys._getframe(1).f_globals.get("__name__", "")
            if caller_module.startswith("ivr."):  # the test client has timers of its own
                armed.append(caller_module)
            return original(*args)

        return arm

    client = await make_client(directory=_MemoryDirectory())
    caller = Caller(client)
    monkeypatch.setattr(asyncio, "timeout", spy(asyncio.timeout))
    monkeypatch.setattr(asyncio, "timeout_at", spy(asyncio.timeout_at))
    first = await caller.start()
    assert first["call"]["customer_id"] == "C1001"
    done = await caller.press("01021980#")
    assert done["call"]["idv_status"] == "identified_and_verified"
    assert "ivr.engine.operate" in armed
