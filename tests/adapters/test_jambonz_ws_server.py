"""jambonz over its WebSocket API end to end: the real server on loopback, driven by a client
that speaks the documented `ws.jambonz.org` wire format; every verb document is checked by
the feature-server's own validator and jambonz's JSON schema."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from ivr.adapters.jambonz_ws import HOOK, SUBPROTOCOL
from ivr.bootstrap import Project
from ivr.engine.actions import RouteKind, Transfer
from ivr.settings import Settings
from ivr.web.app import create_app
from ivr.web.keys import STORE
from ivr.web.settings import ServeSettings
from simulator.remote_jambonz import JambonzError, call_payload
from simulator.remote_jambonz_ws import JambonzWsDriver

from .jambonz_check import json_schema, verb_specifications
from .server import ALICE, CARDS_LINE, DEMO_LINE, ROOT

USER, PASSWORD = "jambonz-app", "ws-test-password"
PROJECT = Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")
Serve = Callable[..., Awaitable[TestServer]]


def settings(demo_db: str, built_prompts: Path, **changes: Any) -> ServeSettings:
    values: dict[str, Any] = {
        "prompts_build": built_prompts,
        "project": PROJECT,
        "directory": demo_db,
        "journal_url": None,
        "webhook_secret": None,
        "admin_key": None,
        "reports_key": None,
        "adapters": [],
        "env": Settings.model_construct(
            jambonz_ws_username=USER, jambonz_ws_password=SecretStr(PASSWORD)
        ),
    }
    values.update(changes)
    return ServeSettings(**values)


@pytest.fixture
def serve(aiohttp_server: Any, demo_db: str, built_prompts: Path) -> Serve:
    async def make(**changes: Any) -> TestServer:
        server: TestServer = await aiohttp_server(
            create_app(settings(demo_db, built_prompts, **changes))
        )
        return server

    return make


@pytest.fixture
async def server(serve: Serve) -> TestServer:
    return await serve()


def url(server: TestServer) -> str:
    return f"ws://{server.host}:{server.port}/jambonz/ws"


def driver(server: TestServer, password: str = PASSWORD) -> JambonzWsDriver:
    return JambonzWsDriver(url(server), USER, password, project=PROJECT)


def verbs(document: list[dict[str, Any]]) -> list[str]:
    return [verb["verb"] for verb in document]


def assert_valid(documents: list[list[dict[str, Any]]]) -> None:
    non_empty = [doc for doc in documents if doc]
    assert non_empty
    assert verb_specifications(non_empty) == [None] * len(non_empty)
    for document in non_empty:
        assert json_schema(document) == [], document


async def test_ani_caller_verified_over_the_socket(server: TestServer) -> None:
    call = driver(server)
    try:
        first = await call.start("ws-1", ALICE, DEMO_LINE, "A")
        assert [type(a).__name__ for a in first] == ["Play", "CollectDigits"]
        document = call.documents[0]
        assert verbs(document) == ["play", "gather"]
        assert document[0]["url"].endswith("/prompts/en-GB/welcome.wav")  # recordings by URL
        assert document[1]["actionHook"].startswith(f"{HOOK}?step=date_of_birth")
        done = await call.press("01021980#")
        assert [type(a).__name__ for a in done][-1] == "Transfer"
        assert verbs(call.documents[-1])[-2:] == ["tag", "redirect"]
        summary = await call.summary()
        assert (summary.idv_status, summary.customer_id) == ("identified_and_verified", "C1001")
        assert_valid(call.documents)
    finally:
        await call.close()


async def test_retries_timeouts_and_an_agent_dial(server: TestServer) -> None:
    call = driver(server)
    try:
        await call.start("ws-2", None, CARDS_LINE, "unknown")
        await call.no_input()
        await call.press("12345678#")
        await call.press("01011999#")
        assert call.reader.pending()["actionHook"].endswith("attempt=2&max=8")
        done = await call.press("01021980#")
        assert call.documents[-1][-1]["verb"] == "dial"
        assert call.documents[-1][-1]["headers"]["X-Idv-Status"] == "identified_and_verified"
        assert isinstance(done[-1], Transfer)
        assert done[-1].kind is RouteKind.AGENT
        assert call.reader.attempts == {"account_number": 2, "date_of_birth": 2}
        assert_valid(call.documents)
    finally:
        await call.close()


async def test_call_status_completed_ends_the_call(server: TestServer) -> None:
    call = driver(server)
    try:
        await call.start("ws-3", None, CARDS_LINE, "unknown")
        await call.notify("call:status", {**call._call, "call_status": "in-progress"})
        await call.hang_up()
        late = await call.request(
            "verb:hook", {"reason": "dtmfDetected", "digits": "1"}, f"{HOOK}?step=x&attempt=1"
        )
        assert late == []  # after the end: nothing, jambonz's stack simply ends
        stored = await server.app[STORE].get("ws-3")
        assert stored is not None
        assert stored["ended_by"] == "hangup"
    finally:
        await call.close()


async def test_a_redelivered_hook_is_answered_once(server: TestServer) -> None:
    call = driver(server)
    try:
        await call.start("ws-4", None, CARDS_LINE, "unknown")
        hook = str(call.reader.pending()["actionHook"])
        data = {**call._call, "reason": "dtmfDetected", "digits": "99999999"}
        first = await call.request("verb:hook", data, hook)
        again = await call.request("verb:hook", data, hook)  # same hook and data, new msgid
        assert again == first
        assert first is not None
        assert first[-1]["actionHook"].endswith("attempt=2&max=8")  # counted once, not twice
        stored = await server.app[STORE].get("ws-4")
        assert stored is not None
        assert stored["attempts"] == {"account_number": 2}
    finally:
        await call.close()


async def test_reconnect_before_the_first_ack_gets_the_first_verbs(server: TestServer) -> None:
    """The socket drops after session:new is sent: jambonz reconnects and its
    session:reconnect takes the place of session:new, so the ack must carry the verbs."""
    call = driver(server)
    try:
        call.call_sid = "ws-5"
        await call.connect(url(server))
        await call.notify("session:new", _session("ws-5"))  # its ack is lost with the socket
        for _ in range(300):  # until the server has stored the call
            if await server.app[STORE].get("ws-5") is not None:
                break
            await asyncio.sleep(0.01)
        call._session_data = _session("ws-5")
        first = await call.reconnect()
        assert first is not None
        assert verbs(first)[-1] == "gather"
        assert first[-1]["actionHook"].startswith(f"{HOOK}?step=account_number")
        stored = await server.app[STORE].get("ws-5")
        assert stored is not None
        assert stored["attempts"] == {"account_number": 1}  # started once, not twice
    finally:
        await call.close()


async def test_a_dropped_socket_resumes_the_call_on_a_new_one(server: TestServer) -> None:
    call = driver(server)
    try:
        await call.start("ws-6", ALICE, DEMO_LINE, "unknown")
        await call.press("11111111#")
        await call.reconnect()  # dropped without a close frame, reopened, session:reconnect
        done = await call.press("01021980#")
        assert type(done[-1]).__name__ == "Transfer"
        assert call.reader.attempts == {"date_of_birth": 2}
        assert (await call.summary()).idv_status == "identified_and_verified"
    finally:
        await call.close()


async def test_a_hook_for_an_unknown_call_sends_the_caller_to_an_agent(
    server: TestServer,
) -> None:
    call = driver(server)
    try:
        call.call_sid = "ws-lost"
        await call.connect(url(server))
        document = await call.request("verb:hook", {"reason": "timeout"}, f"{HOOK}?step=x")
        assert document is not None
        assert verbs(document) == ["tag", "dial"]
        assert_valid([document])
    finally:
        await call.close()


async def test_a_jambonz_error_redirects_the_caller_to_an_agent_once(server: TestServer) -> None:
    call = driver(server)
    try:
        await call.start("ws-7", None, CARDS_LINE, "unknown")
        error = {"error": "Speech credentials not found", "verb": "say"}
        await call.notify("jambonz:error", error)
        command = await call.receive()
        assert command["type"] == "command"
        assert command["command"] == "redirect"
        assert verbs(command["data"]) == ["tag", "dial"]
        assert_valid([command["data"]])
        await call.notify("jambonz:error", error)  # no loop of redirects
        answer = await call.request("verb:hook", {"reason": "timeout"}, f"{HOOK}?step=x")
        assert answer is not None  # the next message is answered, no second command before it
        address = f"http://{server.host}:{server.port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(address) as response:
            exposed = await response.text()
        assert 'ivr_gateway_errors_total{adapter="jambonz-ws"}' in exposed
    finally:
        await call.close()


async def test_bad_frames_change_nothing_and_the_socket_stays_open(server: TestServer) -> None:
    call = driver(server)
    try:
        await call.start("ws-8", None, CARDS_LINE, "unknown")
        await call.send_raw("this is not json")
        await call.send_raw(json.dumps({"type": "verb:hook", "call_sid": "ws-8"}))
        call.call_sid = "someone-else"  # the same socket, speaking for another call
        other = await call.request("verb:hook", {"reason": "timeout"}, f"{HOOK}?step=x")
        call.call_sid = "ws-8"
        assert other is None  # acked without verbs: one socket carries one call
        answer = await call.no_input()
        assert call.reader.attempts == {"account_number": 2}
        assert answer
    finally:
        await call.close()


async def test_credentials_and_subprotocol_are_required(server: TestServer) -> None:
    with pytest.raises(JambonzError, match="401"):
        await driver(server, password="wrong").start("ws-9", ALICE, DEMO_LINE, "unknown")
    async with aiohttp.ClientSession() as session:
        async with session.get(url(server)) as response:  # no credentials at all
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        auth = {
            "Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        }
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url(server), headers=auth, protocols=("other",))
        assert refused.value.status == 400
    assert await server.app[STORE].get("ws-9") is None


async def test_not_served_without_credentials(serve: Serve) -> None:
    server = await serve(env=Settings.model_construct(jambonz_ws_username=USER))  # no password
    async with aiohttp.ClientSession() as session:
        auth = {
            "Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        }
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url(server), headers=auth, protocols=(SUBPROTOCOL,))
        assert refused.value.status == 404


async def test_shutdown_closes_sockets_as_going_away(serve: Serve) -> None:
    """1001, not 1000: jambonz reconnects (to another worker) instead of ending the call."""
    server = await serve()
    call = driver(server)
    await call.start("ws-10", ALICE, DEMO_LINE, "unknown")
    assert call._ws is not None
    ws = call._ws
    receiving = asyncio.create_task(ws.receive())  # jambonz always reads its socket
    await server.close()
    message = await receiving
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == aiohttp.WSCloseCode.GOING_AWAY
    await call.close()


def _session(call_sid: str) -> dict[str, Any]:
    return call_payload(call_sid, None, CARDS_LINE, "unknown")


async def test_the_journal_records_the_call_and_its_end(serve: Serve, tmp_path: Path) -> None:
    key = "ws-reports-key"
    server = await serve(journal_url=f"sqlite:///{tmp_path}/journal.db", reports_key=key)
    call = driver(server)
    try:
        await call.start("ws-journal", None, CARDS_LINE, "unknown")
        await call.press("12345678#")
        await call.hang_up()  # call:status completed
    finally:
        await call.close()
    headers = {"Authorization": f"Bearer {key}"}
    address = f"http://{server.host}:{server.port}/calls/ws-journal"
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(300):
            async with session.get(address) as response:
                journey = await response.json() if response.status == 200 else {}
            kinds = [record["kind"] for record in journey.get("records", [])]
            if "call_ended" in kinds:
                break
            await asyncio.sleep(0.02)
    assert kinds[0] == "call_started"
    assert "input" in kinds
    assert kinds[-1] == "call_ended"
    assert journey["active"] is False
