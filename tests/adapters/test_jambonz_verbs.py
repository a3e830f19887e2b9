"""jambonz documents: exact shapes, and every one accepted by BOTH validators."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivr.adapters.base import RenderContext
from ivr.adapters.jambonz import JambonzAdapter
from ivr.adapters.jambonz_verbs import JambonzTransfer, render_verbs
from ivr.engine.actions import Action, RouteKind

from .conftest import context
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
from .jambonz_check import json_schema, verb_specifications

ACTION = "https://ivr.example.com/gw/gather?call=CA1&step=identify&attempt=2&max=8"
WAV = "https://ivr.example.com/prompts/en-GB/{}.wav"
AGENT_TAG = {"route": "agent", "route_kind": "agent", "handoff": HANDOFF}
HEADERS = {
    "X-Idv-Status": "identified_and_verified",
    "X-Customer-Id": "10000001",
    "X-Customer-Name": "Zoë O'Brien & Co",
    "X-Factors-Passed": "dob,pin",
    "X-Locked": "false",
    "X-Ani-Trust": "A",
}


def render(actions: list[Action], **kwargs: Any) -> list[dict[str, Any]]:
    return render_verbs(actions, context(), **kwargs)


def gather(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "verb": "gather",
        "input": ["digits"],
        "actionHook": ACTION,
        "minDigits": 1,
        "maxDigits": 8,
        "interDigitTimeout": 3,
        "timeout": 8,
        "finishOnKey": "#",
    }
    base.update(extra)
    return base


# every kind of document the adapter can produce, with its exact expected shape
CASES: dict[str, tuple[list[Action], dict[str, Any], list[dict[str, Any]]]] = {
    "gather_say_barge_in": (
        [collect()],
        {},
        [gather(dtmfBargein=True, say={"text": ASK_ID.text})],
    ),
    "gather_play_barge_in": (
        [collect(prompts=(WELCOME, RECORDED_ASK))],
        {},
        [gather(dtmfBargein=True, play={"url": [WAV.format("welcome"), WAV.format("ask_pin")]})],
    ),
    "gather_single_play": (
        [collect(prompts=(RECORDED_ASK,))],
        {},
        [gather(dtmfBargein=True, play={"url": WAV.format("ask_pin")})],
    ),
    "gather_mixed_prompts_spoken": (
        [collect(prompts=(RECORDED_ASK, ASK_ID))],
        {},
        [gather(dtmfBargein=True, say={"text": f"{RECORDED_ASK.text} {ASK_ID.text}"})],
    ),
    "gather_no_barge_in": (
        [play(WELCOME), collect(barge_in=False, prompts=(ASK_ID, RECORDED_ASK))],
        {},
        [
            {"verb": "play", "url": WAV.format("welcome")},
            {"verb": "say", "text": ASK_ID.text},
            {"verb": "play", "url": WAV.format("ask_pin")},
            gather(),
        ],
    ),
    "gather_no_terminator": (
        [collect(term_key=None, max_digits=1, timeout_s=5, inter_digit_timeout_s=0.5)],
        {},
        [
            {
                **{
                    k: v
                    for k, v in gather(maxDigits=1, timeout=5, interDigitTimeout=1).items()
                    if k != "finishOnKey"
                },
                "actionHook": ACTION.replace("max=8", "max=1"),
                "dtmfBargein": True,
                "say": {"text": ASK_ID.text},
            }
        ],
    ),
    "gather_say_with_vendor": (
        [collect()],
        {"tts_vendor": "google"},
        [
            gather(
                dtmfBargein=True,
                say={"text": ASK_ID.text, "synthesizer": {"vendor": "google", "language": "en-GB"}},
            )
        ],
    ),
    "say_and_play_alone": (
        [play(TRICKY, WELCOME)],
        {},
        [
            {"verb": "say", "text": TRICKY.text},
            {"verb": "play", "url": WAV.format("welcome")},
            {
                "verb": "redirect",
                "actionHook": "https://ivr.example.com/gw/gather?call=CA1&event=played",
            },
        ],
    ),
    "say_then_hangup": (
        [play(TRICKY), HANGUP],
        {},
        [{"verb": "say", "text": TRICKY.text}, {"verb": "hangup"}],
    ),
    "dial_user_with_headers_and_tag": (
        [play(WELCOME), transfer()],
        {},
        [
            {"verb": "play", "url": WAV.format("welcome")},
            {"verb": "tag", "data": AGENT_TAG},
            {
                "verb": "dial",
                "target": [{"type": "user", "name": "general"}],
                "headers": HEADERS,
                "tag": AGENT_TAG,
            },
        ],
    ),
    "dial_sip": (
        [transfer(RouteKind.MAIN_MENU, "sip:menu@pbx.example.com")],
        {},
        [
            {"verb": "tag", "data": {**AGENT_TAG, "route": "main_menu", "route_kind": "main_menu"}},
            {
                "verb": "dial",
                "target": [{"type": "sip", "sipUri": "sip:menu@pbx.example.com"}],
                "headers": HEADERS,
                "tag": {**AGENT_TAG, "route": "main_menu", "route_kind": "main_menu"},
            },
        ],
    ),
    "dial_phone": (
        [transfer(target="+441134960999")],
        {},
        [
            {"verb": "tag", "data": AGENT_TAG},
            {
                "verb": "dial",
                "target": [{"type": "phone", "number": "+441134960999"}],
                "headers": HEADERS,
                "tag": AGENT_TAG,
            },
        ],
    ),
    "enqueue": (
        [transfer()],
        {"transfers": {RouteKind.AGENT: JambonzTransfer.ENQUEUE}},
        [{"verb": "tag", "data": AGENT_TAG}, {"verb": "enqueue", "name": "general"}],
    ),
    "redirect_to_web_app": (
        [transfer(RouteKind.SELF_SERVICE, "https://self.example.com/ivr")],
        {},
        [
            {
                "verb": "tag",
                "data": {**AGENT_TAG, "route": "self_service", "route_kind": "self_service"},
            },
            {"verb": "redirect", "actionHook": "https://self.example.com/ivr"},
        ],
    ),
    "hangup": ([HANGUP], {}, [{"verb": "hangup"}]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_document_shape(name: str) -> None:
    actions, kwargs, expected = CASES[name]
    assert render(actions, **kwargs) == expected


def to_agent_document() -> list[dict[str, Any]]:
    ctx = RenderContext("CA1", "en-GB", "https://x.example/jambonz/action", lambda p: None)
    answer = JambonzAdapter(["s"], agent_target="sip:agents@pbx.example.com").render_to_agent(ctx)
    assert answer.content_type == "application/json; charset=utf-8"
    document: list[dict[str, Any]] = json.loads(answer.body)
    return document


def test_to_agent_document() -> None:
    tag = {"route": "agent", "route_kind": "agent", "handoff": {"idv_status": "not_identified"}}
    assert to_agent_document() == [
        {"verb": "tag", "data": tag},
        {
            "verb": "dial",
            "target": [{"type": "sip", "sipUri": "sip:agents@pbx.example.com"}],
            "headers": {"X-Idv-Status": "not_identified"},
            "tag": tag,
        },
    ]


def all_documents() -> dict[str, list[dict[str, Any]]]:
    documents = {name: render(actions, **kwargs) for name, (actions, kwargs, _) in CASES.items()}
    documents["to_agent"] = to_agent_document()
    return documents


def test_every_document_passes_verb_specifications() -> None:
    documents = all_documents()
    verdicts = verb_specifications(list(documents.values()))
    assert dict(zip(documents, verdicts, strict=True)) == dict.fromkeys(documents)


@pytest.mark.parametrize("name", sorted(all_documents()))
def test_every_document_passes_the_sdk_json_schema(name: str) -> None:
    assert json_schema(all_documents()[name]) == []


def test_interdigit_timeout_always_comes_with_min_digits() -> None:
    for document in all_documents().values():
        for verb in document:
            if "interDigitTimeout" in verb:
                assert verb.get("minDigits", 0) >= 1
            assert "numDigits" not in verb or "minDigits" not in verb


# where the validators disagree (plus one agreement), pinned: a change in either shows
DISAGREEMENTS: dict[str, tuple[list[dict[str, Any]], bool, bool]] = {
    # name: (document, verb-specifications accepts, JSON schema accepts)
    "twilio_spelling_dtmf": ([{"verb": "gather", "input": ["dtmf"]}], True, False),
    "typo_finishOnkey": ([{"verb": "gather", "finishOnkey": "#"}], False, True),
    # agreement, kept as a reminder of why `say` carries a synthesizer only with a vendor
    "synthesizer_without_vendor": (
        [{"verb": "say", "text": "hi", "synthesizer": {"language": "en-GB"}}],
        False,
        False,
    ),
    "nested_say_with_verb_key": (
        [{"verb": "gather", "say": {"verb": "say", "text": "hi"}}],
        False,
        True,
    ),
    "keyed_form": ([{"say": {"text": "hi"}}], True, False),
    "empty_document": ([], True, False),
}


def test_known_validator_disagreements() -> None:
    names = sorted(DISAGREEMENTS)
    verdicts = verb_specifications([DISAGREEMENTS[n][0] for n in names])
    for name, verdict in zip(names, verdicts, strict=True):
        document, node_ok, schema_ok = DISAGREEMENTS[name]
        assert (verdict is None) == node_ok, (name, verdict)
        assert (json_schema(document) == []) == schema_ok, name
