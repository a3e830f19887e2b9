"""TwiML documents for the engine's actions, written as strings with every value escaped.

No official TwiML schema exists; the element and attribute names here follow Twilio's voice
documentation (camelCase attributes, `<Response>` root) and are pinned by the tests. The
documents are byte for byte what xml.etree wrote (same escaping, `<X />` for empty
elements), at a fraction of its cost per webhook (ivr.adapters.xmltext).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from urllib.parse import quote, urlencode

from ivr.adapters.base import RenderContext
from ivr.adapters.wire import collect_query, handoff_headers, handoff_text, played_query, with_query
from ivr.adapters.xmltext import element
from ivr.engine.actions import (
    Action,
    CollectDigits,
    Hangup,
    Play,
    PromptRef,
    RouteKind,
    SecurePayment,
    Transfer,
)

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
    by_route: Mapping[str, TwilioTransfer] | None = None,
) -> str:
    """One TwiML document playing, collecting, transferring or hanging up, in action order.

    A transfer is rendered as its route asks (`by_route`, from config/routes.yaml), else as
    its route kind's default (`transfers`).
    """
    parts: list[str] = []
    waits = False  # whether the document ends by calling us back or leaving the engine
    for action in actions:
        if isinstance(action, Play):
            for prompt in action.prompts:
                parts.append(_prompt(prompt, context))
            waits = False
        elif isinstance(action, CollectDigits):
            parts.append(_gather(action, context))
            waits = True
        elif isinstance(action, Transfer):
            parts.append(_transfer(action, transfers, by_route or {}))
            waits = True
        elif isinstance(action, Hangup):
            parts.append("<Hangup />")
            waits = True
        elif isinstance(action, SecurePayment):
            parts.append(_pay(action, context))
            waits = True
    if actions and not waits:
        # prompts only: ask the engine what comes next once they have played
        url = with_query(context.action_url, played_query())
        parts.append(element("Redirect", url, method="POST"))
    return _XML_DECLARATION + element("Response", inner="".join(parts))


_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _prompt(prompt: PromptRef, context: RenderContext) -> str:
    url = context.prompt_url(prompt)
    if url is not None:
        return element("Play", url)
    if context.language:  # unknown for a lost call: Twilio's default voice then
        return element("Say", prompt.text, language=context.language)
    return element("Say", prompt.text)


def _gather(action: CollectDigits, context: RenderContext) -> str:
    """`<Gather>`: barge-in puts the prompts inside it, otherwise they play before it.

    Twilio has a single `timeout` (first digit and between digits, counted after the prompts);
    the engine's longer first-digit timeout is used so slow callers are not cut off.
    A "don't have" key such as `*` needs nothing special: it arrives as Digits="*" once the
    timeout passes, and the engine recognises it.
    """
    prompts = "".join(_prompt(prompt, context) for prompt in action.prompts)
    gather = element(
        "Gather",
        inner=prompts if action.barge_in else "",
        input="dtmf",
        action=with_query(context.action_url, collect_query(action)),
        method="POST",
        numDigits=str(action.max_digits),
        finishOnKey=action.term_key or "",
        timeout=str(max(1, math.ceil(action.timeout_s))),
        actionOnEmptyResult="true",
    )
    return gather if action.barge_in else prompts + gather


# the card brands a payment step accepts (ivr.payments.cards), in <Pay>'s words
PAY_CARD_TYPES = "visa mastercard amex discover"


def pay_query(step: str) -> list[tuple[str, str]]:
    """What the `<Pay>` action URL carries: that it is a payment's result, and for which step."""
    return [("event", "pay"), ("step", step)]


def _pay(action: SecurePayment, context: RenderContext) -> str:
    """`<Pay>`: Twilio collects the card and charges it through the configured Pay Connector;
    its action URL gets the result (Result, PaymentCardNumber masked, PaymentToken,
    PaymentConfirmationCode...), never the digits."""
    prompts = "".join(
        element("Prompt", inner=_prompt(prompt, context), **{"for": field})
        for field, prompt in action.prompts
    )
    attributes = {
        "input": "dtmf",
        "action": with_query(context.action_url, pay_query(action.step)),
        "paymentConnector": action.connector,
        "chargeAmount": action.amount,
        "currency": action.currency.lower(),
        "postalCode": "true" if action.postal_code else "false",
        "securityCode": "true",
        "maxAttempts": str(action.max_attempts),
        "timeout": str(max(1, math.ceil(action.timeout_s))),
        "validCardTypes": PAY_CARD_TYPES,
    }
    if action.description:
        attributes["description"] = action.description
    return element("Pay", inner=prompts, **attributes)


def _transfer(
    action: Transfer,
    transfers: Mapping[RouteKind, TwilioTransfer],
    by_route: Mapping[str, TwilioTransfer],
) -> str:
    mode = by_route.get(action.route_name) or transfers.get(action.kind, TwilioTransfer.SIP)
    if action.target.startswith(("http://", "https://")):
        mode = TwilioTransfer.REDIRECT  # neither a queue nor a SIP URI can be a web address
    if mode is TwilioTransfer.ENQUEUE:
        task = element("Task", json.dumps(action.handoff, separators=(",", ":"), sort_keys=True))
        if _WORKFLOW_SID.match(action.target):
            return element("Enqueue", inner=task, workflowSid=action.target)
        return element("Enqueue", action.target, inner=task)
    if mode is TwilioTransfer.REDIRECT:
        url = with_query(action.target, handoff_text(action.handoff))
        return element("Redirect", url, method="POST")
    return element("Dial", inner=element("Sip", sip_uri(action.target, action.handoff)))


def sip_uri(target: str, handoff: Mapping[str, object]) -> str:
    """`sip:target?x-idv-status=...`: custom headers ride in the URI, URL-encoded."""
    uri = target if target.startswith(("sip:", "sips:")) else f"sip:{target}"
    headers = handoff_headers(handoff)
    if not headers:
        return uri
    joiner = "&" if "?" in uri else "?"
    return uri + joiner + urlencode(headers, quote_via=quote)
