"""TwiML documents for the engine's actions, built with xml.etree so every value is escaped.

No official TwiML schema exists; the element and attribute names here follow Twilio's voice
documentation (camelCase attributes, `<Response>` root) and are pinned by the tests.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from urllib.parse import quote, urlencode
from xml.etree import ElementTree as ET

from ivr.adapters.base import RenderContext
from ivr.adapters.wire import collect_query, handoff_headers, header_value, played_query, with_query
from ivr.engine.actions import Action, CollectDigits, Hangup, Play, PromptRef, RouteKind, Transfer

_WORKFLOW_SID = re.compile(r"^WW[0-9a-fA-F]{32}$")


class TwilioTransfer(StrEnum):
    """How a Transfer is rendered: queue it (TaskRouter), dial a SIP URI, or redirect."""

    ENQUEUE = "enqueue"  # <Enqueue>queue|workflowSid<Task>{handoff json}</Task></Enqueue>
    SIP = "sip"  # <Dial><Sip>sip:target?x-idv-status=...</Sip></Dial>
    REDIRECT = "redirect"  # <Redirect>url?idv_status=...</Redirect>: another TwiML app


DEFAULT_TRANSFERS: Mapping[RouteKind, TwilioTransfer] = {
    RouteKind.AGENT: TwilioTransfer.ENQUEUE,
    RouteKind.SELF_SERVICE: TwilioTransfer.SIP,
    RouteKind.MAIN_MENU: TwilioTransfer.SIP,
    RouteKind.FLOW: TwilioTransfer.SIP,
}


def render_twiml(
    actions: Sequence[Action],
    context: RenderContext,
    transfers: Mapping[RouteKind, TwilioTransfer] = DEFAULT_TRANSFERS,
) -> str:
    """One TwiML document playing, collecting, transferring or hanging up, in action order."""
    response = ET.Element("Response")
    waits = False  # whether the document ends by calling us back or leaving the engine
    for action in actions:
        if isinstance(action, Play):
            for prompt in action.prompts:
                _prompt(response, prompt, context)
            waits = False
        elif isinstance(action, CollectDigits):
            _gather(response, action, context)
            waits = True
        elif isinstance(action, Transfer):
            _transfer(response, action, transfers)
            waits = True
        elif isinstance(action, Hangup):
            ET.SubElement(response, "Hangup")
            waits = True
    if actions and not waits:
        # prompts only: ask the engine what comes next once they have played
        redirect = ET.SubElement(response, "Redirect", method="POST")
        redirect.text = with_query(context.action_url, played_query())
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")


def _prompt(parent: ET.Element, prompt: PromptRef, context: RenderContext) -> None:
    url = context.prompt_url(prompt)
    if url is not None:
        ET.SubElement(parent, "Play").text = url
    else:
        say = ET.SubElement(parent, "Say")
        if context.language:  # unknown for a lost call: Twilio's default voice then
            say.set("language", context.language)
        say.text = prompt.text


def _gather(parent: ET.Element, action: CollectDigits, context: RenderContext) -> None:
    """`<Gather>`: barge-in puts the prompts inside it, otherwise they play before it.

    Twilio has a single `timeout` (first digit and between digits, counted after the prompts);
    the engine's longer first-digit timeout is used so slow callers are not cut off.
    A "don't have" key such as `*` needs nothing special: it arrives as Digits="*" once the
    timeout passes, and the engine recognises it.
    """
    if not action.barge_in:
        for prompt in action.prompts:
            _prompt(parent, prompt, context)
    gather = ET.SubElement(
        parent,
        "Gather",
        {
            "input": "dtmf",
            "action": with_query(context.action_url, collect_query(action)),
            "method": "POST",
            "numDigits": str(action.max_digits),
            "finishOnKey": action.term_key or "",
            "timeout": str(max(1, math.ceil(action.timeout_s))),
            "actionOnEmptyResult": "true",
        },
    )
    if action.barge_in:
        for prompt in action.prompts:
            _prompt(gather, prompt, context)


def _transfer(
    parent: ET.Element, action: Transfer, transfers: Mapping[RouteKind, TwilioTransfer]
) -> None:
    mode = transfers.get(action.kind, TwilioTransfer.SIP)
    if action.target.startswith(("http://", "https://")):
        mode = TwilioTransfer.REDIRECT  # neither a queue nor a SIP URI can be a web address
    if mode is TwilioTransfer.ENQUEUE:
        enqueue = ET.SubElement(parent, "Enqueue")
        if _WORKFLOW_SID.match(action.target):
            enqueue.set("workflowSid", action.target)
        else:
            enqueue.text = action.target
        task = ET.SubElement(enqueue, "Task")
        task.text = json.dumps(action.handoff, separators=(",", ":"), sort_keys=True)
    elif mode is TwilioTransfer.REDIRECT:
        redirect = ET.SubElement(parent, "Redirect", method="POST")
        values = [(key, header_value(value)) for key, value in action.handoff.items()]
        redirect.text = with_query(action.target, [(k, v) for k, v in values if v is not None])
    else:
        dial = ET.SubElement(parent, "Dial")
        ET.SubElement(dial, "Sip").text = sip_uri(action.target, action.handoff)


def sip_uri(target: str, handoff: Mapping[str, object]) -> str:
    """`sip:target?x-idv-status=...`: custom headers ride in the URI, URL-encoded."""
    uri = target if target.startswith(("sip:", "sips:")) else f"sip:{target}"
    headers = handoff_headers(handoff)
    if not headers:
        return uri
    joiner = "&" if "?" in uri else "?"
    return uri + joiner + urlencode(headers, quote_via=quote)
