"""TwiML: no official XSD exists, so the exact structure is pinned here element by element."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from ivr.adapters.twilio import TwilioAdapter
from ivr.adapters.twiml import TwilioTransfer, render_twiml, sip_uri
from ivr.engine.actions import Action, RouteKind

from .conftest import ClientFactory, context, mount
from .factories import (
    ASK_ID,
    HANDOFF,
    HANGUP,
    RECORDED_ASK,
    TRICKY,
    WELCOME,
    collect,
    play,
    transfer,
)

PROMPT_URL = "https://ivr.example.com/prompts/en-GB/{}.wav"

# what Twilio documents for each verb we emit (names are case-sensitive: 12200 otherwise)
ALLOWED = {
    "Response": set(),
    "Say": {"language"},
    "Play": set(),
    "Gather": {
        "input",
        "action",
        "method",
        "numDigits",
        "finishOnKey",
        "timeout",
        "actionOnEmptyResult",
    },
    "Dial": set(),
    "Sip": set(),
    "Enqueue": {"workflowSid"},
    "Task": set(),
    "Redirect": {"method"},
    "Hangup": set(),
}


def parse(actions: list[Action], **kwargs: Any) -> ET.Element:
    text = render_twiml(actions, context(), **kwargs)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response')
    root = ET.fromstring(text)
    assert root.tag == "Response"
    for element in root.iter():
        assert element.tag in ALLOWED, element.tag
        assert set(element.attrib) <= ALLOWED[element.tag], (element.tag, element.attrib)
    return root


def shape(element: ET.Element) -> list[Any]:
    return [(child.tag, shape(child)) if len(child) else child.tag for child in element]


def test_gather_with_barge_in_nests_the_prompts() -> None:
    root = parse([play(WELCOME), collect(prompts=(ASK_ID, RECORDED_ASK))])
    assert shape(root) == ["Play", ("Gather", ["Say", "Play"])]
    welcome, gather = root
    assert welcome.text == PROMPT_URL.format("welcome")
    assert gather.attrib == {
        "input": "dtmf",
        "action": "https://ivr.example.com/gw/gather?call=CA1&step=identify&attempt=2&max=8",
        "method": "POST",
        "numDigits": "8",
        "finishOnKey": "#",
        "timeout": "8",
        "actionOnEmptyResult": "true",
    }
    say, recorded = gather
    assert say.attrib == {"language": "en-GB"}
    assert say.text == ASK_ID.text
    assert recorded.text == PROMPT_URL.format("ask_pin")


def test_gather_without_barge_in_plays_first() -> None:
    root = parse([collect(barge_in=False)])
    assert shape(root) == ["Say", "Gather"]
    assert len(root[1]) == 0
    assert root[1].get("actionOnEmptyResult") == "true"


def test_gather_without_terminator_disables_finish_on_key() -> None:
    gather = parse([collect(term_key=None, min_digits=1, max_digits=1, timeout_s=0.2)])[0]
    assert gather.get("finishOnKey") == ""
    assert gather.get("numDigits") == "1"
    assert gather.get("timeout") == "1"


def test_text_is_escaped() -> None:
    text = render_twiml([play(TRICKY), HANGUP], context())
    assert '&lt;1&gt; &amp; "2" for A&amp;B' in text
    root = parse([play(TRICKY), HANGUP])
    assert shape(root) == ["Say", "Hangup"]
    assert root[0].text == TRICKY.text


def test_hangup() -> None:
    root = parse([HANGUP])
    assert shape(root) == ["Hangup"]


def test_prompts_alone_redirect_back_to_the_engine() -> None:
    root = parse([play(WELCOME)])
    assert shape(root) == ["Play", "Redirect"]
    assert root[1].attrib == {"method": "POST"}
    assert root[1].text == "https://ivr.example.com/gw/gather?call=CA1&event=played"


def test_no_actions_is_an_empty_response() -> None:
    assert shape(parse([])) == []


def test_agent_enqueue_with_task() -> None:
    root = parse([play(WELCOME), transfer()])
    assert shape(root) == ["Play", ("Enqueue", ["Task"])]
    enqueue = root[1]
    assert enqueue.attrib == {}
    assert enqueue.text == "general"
    assert json.loads(enqueue[0].text or "") == HANDOFF


def test_enqueue_to_a_taskrouter_workflow() -> None:
    workflow = "WW" + "0123456789abcdef" * 2
    enqueue = parse([transfer(target=workflow)])[0]
    assert enqueue.attrib == {"workflowSid": workflow}
    assert enqueue.text is None
    assert json.loads(enqueue[0].text or "")["customer_id"] == "10000001"


def test_dial_sip_with_x_headers() -> None:
    root = parse([transfer(RouteKind.MAIN_MENU, "menu@pbx.example.com")])
    assert shape(root) == [("Dial", ["Sip"])]
    uri = root[0][0].text or ""
    base, _, query = uri.partition("?")
    assert base == "sip:menu@pbx.example.com"
    assert parse_qs(query) == {
        "x-idv-status": ["identified_and_verified"],
        "x-customer-id": ["10000001"],
        "x-customer-name": ["Zoë O'Brien & Co"],
        "x-factors-passed": ["dob,pin"],
        "x-locked": ["false"],
        "x-ani-trust": ["A"],
    }
    assert "%26" in query
    assert " " not in query


def test_transfer_mode_is_configurable_per_route_kind() -> None:
    modes = {RouteKind.AGENT: TwilioTransfer.SIP}
    root = parse([transfer(target="sip:agents@pbx.example.com")], transfers=modes)
    assert shape(root) == [("Dial", ["Sip"])]
    assert (root[0][0].text or "").startswith("sip:agents@pbx.example.com?x-idv-status=")
    modes = {RouteKind.SELF_SERVICE: TwilioTransfer.ENQUEUE}
    assert shape(parse([transfer(RouteKind.SELF_SERVICE, "selfserve")], transfers=modes)) == [
        ("Enqueue", ["Task"])
    ]


def test_web_address_targets_redirect_with_the_handoff() -> None:
    root = parse([transfer(RouteKind.SELF_SERVICE, "https://self.example.com/ivr?line=1")])
    assert shape(root) == ["Redirect"]
    url = urlsplit(root[0].text or "")
    assert (url.scheme, url.netloc, url.path) == ("https", "self.example.com", "/ivr")
    query = parse_qs(url.query)
    assert query["line"] == ["1"]
    assert query["idv_status"] == ["identified_and_verified"]
    assert "idv_token" not in query


def test_sip_uri_keeps_an_existing_query() -> None:
    assert sip_uri("sip:a@b?x-a=1", {"idv_status": "not_identified"}) == (
        "sip:a@b?x-a=1&x-idv-status=not_identified"
    )
    assert sip_uri("queue", {}) == "sip:queue"


async def test_adapter_renders_twiml_over_http(make_client: ClientFactory) -> None:
    adapter = TwilioAdapter("tok")
    client: TestClient[Any, Any] = await make_client(mount(adapter, [play(WELCOME), collect()]))
    form = {"CallSid": "CA1", "From": "+441134960001", "To": "+441134960000"}
    url = str(client.make_url("/twilio/voice?render=1"))
    signature = RequestValidator("tok").compute_signature(url, form)
    response = await client.post(
        "/twilio/voice?render=1", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert response.charset == "utf-8"
    assert shape(ET.fromstring(await response.text())) == ["Play", ("Gather", ["Say"])]


def test_render_to_agent_is_a_valid_enqueue() -> None:
    document = TwilioAdapter("tok", agent_target="WW" + "a" * 32).render_to_agent(context())
    assert document.content_type == "text/xml; charset=utf-8"
    root = ET.fromstring(document.body)
    assert shape(root) == [("Enqueue", ["Task"])]
    assert json.loads(root[0][0].text or "") == {"idv_status": "not_identified"}


@pytest.mark.parametrize("barge_in", [True, False])
def test_every_gather_document_is_well_formed(barge_in: bool) -> None:
    parse([play(WELCOME), collect(barge_in=barge_in, prompts=(TRICKY, RECORDED_ASK))])


def test_say_without_a_known_language_uses_twilio_default() -> None:
    ctx = context()
    blank = type(ctx)(ctx.call_id, "", ctx.action_url, ctx.prompt_url)
    root = ET.fromstring(render_twiml([play(ASK_ID), HANGUP], blank))
    assert root[0].attrib == {}
