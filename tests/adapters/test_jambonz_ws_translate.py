"""The jambonz WebSocket translator: frames in, core events and ack/command frames out, no
server (message shapes from the feature-server's ws-requestor.js and docs.jambonz.org)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivr.adapters.base import BadRequest
from ivr.adapters.jambonz_ws import (
    HOOK,
    JambonzWsAdapter,
    ack,
    error_text,
    read_message,
    redirect_command,
    to_inbound,
)
from ivr.engine.actions import CollectDigits, Play, PromptRef, RouteKind, Transfer
from ivr.engine.events import (
    CallerIdTrust,
    CallStarted,
    DigitsCollected,
    DigitsTermination,
    HungUp,
    NoInput,
    PromptFinished,
    TransferResult,
)

from .conftest import context
from .jambonz_check import json_schema, verb_specifications

CALL_SID = "9fb35c28-9688-4531-943c-e280b04f3adf"
SESSION_DATA = {
    "sip": {
        "headers": {
            "from": "<sip:+447700900123@carrier>;tag=9mgy",
            "p-asserted-identity": "<sip:+447700900123@carrier;verstat=TN-Validation-Passed-A>",
        }
    },
    "call_sid": CALL_SID,
    "direction": "inbound",
    "from": "+447700900123",
    "to": "+441134960000",
    "call_id": "d8907723-0bc7-123b-09b5-12e962f3039b",
    "sip_status": 100,
    "call_status": "trying",
    "account_sid": "9351f46a-678c-43f5-b8a6-d4eb58d131af",
}


def frame(kind: str, data: dict[str, Any], hook: str | None = None, msgid: str = "m1") -> str:
    message: dict[str, Any] = {"type": kind, "msgid": msgid, "call_sid": CALL_SID}
    if hook is not None:
        message["hook"] = hook
    message["data"] = data
    return json.dumps(message)


def test_session_new_starts_the_call_with_caller_line_and_trust() -> None:
    message = read_message(frame("session:new", SESSION_DATA))
    assert message.wants_ack
    inbound = to_inbound(message)
    assert inbound is not None
    assert inbound.event == CallStarted(
        CALL_SID, "+447700900123", "+441134960000", CallerIdTrust.FULL
    )


def test_a_reconnect_is_the_same_delivery_as_the_session_it_repeats() -> None:
    new = to_inbound(read_message(frame("session:new", SESSION_DATA, msgid="a")))
    again = to_inbound(read_message(frame("session:reconnect", SESSION_DATA, msgid="b")))
    assert new is not None
    assert again is not None
    assert again.event == new.event
    assert again.delivery_key == new.delivery_key


def test_gather_results_by_hook() -> None:
    hook = f"{HOOK}?step=date_of_birth&attempt=2&max=8"
    digits = read_message(
        frame("verb:hook", {"reason": "dtmfDetected", "digits": "01021980"}, hook)
    )
    inbound = to_inbound(digits)
    assert inbound is not None
    assert inbound.event == DigitsCollected(CALL_SID, "01021980", DigitsTermination.MAX_DIGITS)
    short = to_inbound(
        read_message(frame("verb:hook", {"reason": "dtmfDetected", "digits": "*"}, hook))
    )
    assert short is not None
    assert short.event == DigitsCollected(CALL_SID, "*", DigitsTermination.INTER_DIGIT_TIMEOUT)
    timeout = to_inbound(read_message(frame("verb:hook", {"reason": "timeout"}, hook)))
    assert timeout is not None
    assert timeout.event == NoInput(CALL_SID)
    # the same hook with the same data is the same delivery, whatever its msgid
    again = to_inbound(read_message(frame("verb:hook", {"reason": "timeout"}, hook, "other")))
    assert again is not None
    assert again.delivery_key == timeout.delivery_key
    other_attempt = to_inbound(
        read_message(frame("verb:hook", {"reason": "timeout"}, hook.replace("=2", "=3")))
    )
    assert other_attempt is not None
    assert other_attempt.delivery_key != timeout.delivery_key


def test_a_redirect_after_prompts_is_prompt_finished() -> None:
    message = read_message(frame("session:redirect", {}, f"{HOOK}?event=played"))
    assert message.wants_ack
    inbound = to_inbound(message)
    assert inbound is not None
    assert inbound.event == PromptFinished(CALL_SID)


def test_call_status() -> None:
    completed = read_message(frame("call:status", {"call_status": "completed", "duration": 9}))
    assert not completed.wants_ack  # a notification: jambonz waits for nothing
    inbound = to_inbound(completed)
    assert inbound is not None
    assert inbound.event == HungUp(CALL_SID)
    progress = to_inbound(read_message(frame("call:status", {"call_status": "in-progress"})))
    assert progress is not None
    assert progress.event == TransferResult(CALL_SID, "status:in-progress")
    with pytest.raises(BadRequest):
        to_inbound(read_message(frame("call:status", {})))


@pytest.mark.parametrize(
    ("kind", "wants_ack"),
    [
        ("verb:status", False),
        ("jambonz:error", False),
        ("llm:event", False),
        ("tts:streaming-event", False),
        ("dial:confirm", True),
        ("session:adulting", True),
    ],
)
def test_messages_that_change_no_call(kind: str, wants_ack: bool) -> None:
    message = read_message(frame(kind, {"error": "x", "verb": "say"}))
    assert message.wants_ack is wants_ack
    assert to_inbound(message) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"msgid": "m", "call_sid": "c"}', "type missing"),
        ('{"type": "verb:hook", "call_sid": "c"}', "msgid missing"),
        ('{"type": "verb:hook", "msgid": "m", "data": {}}', "call_sid must be"),
        ('{"type": "verb:hook", "msgid": "m", "call_sid": "a\\nb"}', "call_sid must be"),
        ("[" * 100_000, "nested too deeply"),
        ('{"type": "verb:hook", "msgid": "m", "call_sid": "c", "data": []}', "not an object"),
        ('{"type": "verb:hook", "msgid": "m", "call_sid": "c", "hook": 3}', "hook"),
    ],
)
def test_malformed_frames_are_refused(text: str | bytes, why: str) -> None:
    with pytest.raises(BadRequest, match=why):
        read_message(text)


def test_call_sid_may_come_from_data_only() -> None:
    message = read_message('{"type": "call:status", "msgid": "m", "data": {"call_sid": "c9"}}')
    assert message.call_sid == "c9"


def test_ack_and_command_frames() -> None:
    assert json.loads(ack("m1")) == {"type": "ack", "msgid": "m1"}
    assert json.loads(ack('q"1', '[{"verb":"hangup"}]')) == {
        "type": "ack",
        "msgid": 'q"1',
        "data": [{"verb": "hangup"}],
    }
    assert json.loads(redirect_command('[{"verb":"hangup"}]')) == {
        "type": "command",
        "command": "redirect",
        "queueCommand": False,
        "data": [{"verb": "hangup"}],
    }


def test_hooks_stay_on_the_socket_and_every_document_is_valid() -> None:
    """Relative hooks: an absolute http(s) hook would make jambonz post it over HTTP."""
    adapter = JambonzWsAdapter()
    collect = CollectDigits(
        prompts=(PromptRef("ask_date_of_birth", "Your date of birth?", audio="x.wav"),),
        min_digits=8,
        max_digits=8,
        term_key="#",
        timeout_s=5,
        inter_digit_timeout_s=3,
        barge_in=True,
        step="date_of_birth",
        attempt=1,
    )
    played = [Play((PromptRef("welcome", "Welcome", audio="w.wav"),), barge_in=False)]
    to_agent = [Transfer(RouteKind.AGENT, "general", "agent", {"idv_status": "not_identified"})]
    documents = [
        json.loads(adapter.render([collect], context()).body),
        json.loads(adapter.render(played, context()).body),
        json.loads(adapter.render(to_agent, context()).body),
        json.loads(adapter.render_to_agent(context()).body),
    ]
    gather, redirect = documents[0][-1], documents[1][-1]
    assert gather["actionHook"] == f"{HOOK}?step=date_of_birth&attempt=1&max=8"
    assert redirect == {"verb": "redirect", "actionHook": f"{HOOK}?event=played"}
    assert [verb["verb"] for verb in documents[3]] == ["tag", "dial"]
    assert verb_specifications(documents) == [None] * len(documents)
    for document in documents:
        assert json_schema(document) == [], document


def test_the_adapter_parses_one_frame_as_bytes() -> None:
    adapter = JambonzWsAdapter()
    inbound = adapter.parse("message", "", {}, frame("session:new", SESSION_DATA).encode())
    assert isinstance(inbound.event, CallStarted)
    with pytest.raises(BadRequest, match="changes no call"):
        adapter.parse("message", "", {}, frame("verb:status", {"event": "finished"}).encode())


def test_a_jambonz_error_is_logged_without_the_frame_it_quotes() -> None:
    verb = read_message(
        frame("jambonz:error", {"error": "Speech credentials not found", "verb": "say"})
    )
    assert error_text(verb) == "say: Speech credentials not found"
    invalid = {"msg": "InvalidMessage", "details": "invalid type", "content": '{"secret":1}'}
    text = error_text(read_message(frame("jambonz:error", invalid)))
    assert text == "invalid type: InvalidMessage"
    long = error_text(read_message(frame("jambonz:error", {"error": "x" * 5000})))
    assert len(long) == 300
