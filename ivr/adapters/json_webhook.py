"""JSON webhook adapter: our own documented protocol (docs/json-webhook.md), translation only.

The messages are the pydantic models of json_protocol.py: they parse the events here and
give the OpenAPI document, so the two cannot disagree.

One endpoint, `POST /json/events`. Each request is one event as a JSON object with an
`event_id` (idempotency) and is signed: `X-IVR-Signature: t=<unix>,v1=<hex>` where v1 is
HMAC-SHA256(secret, "<t>." + raw body), checked in constant time within a 300 s window.
The answer lists the actions to perform and a `call` summary (status, customer, attempts,
flow version) so a client such as the simulator can report results without reading logs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from ivr.adapters import json_protocol as protocol
from ivr.adapters.base import (
    Adapter,
    BadRequest,
    Document,
    Headers,
    Inbound,
    RenderContext,
    Unauthorized,
)
from ivr.adapters.json_protocol import PROTOCOL_VERSION, SIGNATURE_HEADER
from ivr.adapters.outbound import outbound_context
from ivr.adapters.signatures import timestamped_header, verify_timestamped
from ivr.adapters.wire import JSON_TYPE
from ivr.engine.actions import (
    Action,
    CollectDigits,
    Hangup,
    Play,
    PromptRef,
    SecurePayment,
    Transfer,
)
from ivr.engine.events import (
    CallerIdTrust,
    CallEvent,
    CallStarted,
    DigitsCollected,
    DigitsTermination,
    HungUp,
    NoInput,
    PromptFinished,
    TransferResult,
)

WINDOW_S = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value a client sends: `t=<timestamp>,v1=<hex HMAC-SHA256>`."""
    return timestamped_header(secret, timestamp, body)


def check_signature(
    secret: str, header: str | None, body: bytes, now: float, window_s: int = WINDOW_S
) -> None:
    """Raise Unauthorized unless `header` signs `body` with `secret` within the window."""
    if not header:
        raise Unauthorized("missing signature")
    if not verify_timestamped([secret], header, body, tolerance_s=window_s, clock=lambda: now):
        raise Unauthorized("missing, malformed, stale or wrong signature")


class JsonWebhookAdapter(Adapter):
    name = "json"
    kinds = ("events",)
    action_kind = "events"
    carries_summary = True

    def __init__(
        self,
        secret: str,
        clock: Callable[[], float] = time.time,
        agent_target: str = "agent",
    ) -> None:
        """`agent_target` is where `render_to_agent` sends a caller whose call is unknown."""
        if not secret:
            raise ValueError("the JSON webhook needs a signing secret (IVR_WEBHOOK_SECRET)")
        self._secret = secret
        self._clock = clock
        self._agent_target = agent_target

    def parse(self, kind: str, url: str, headers: Headers, body: bytes) -> Inbound:
        check_signature(self._secret, headers.get(SIGNATURE_HEADER), body, self._clock())
        try:
            doc = protocol.EVENTS.validate_json(body)
        except ValidationError as error:  # not JSON, too deep, or not one of the events
            raise BadRequest(_problem(error)) from None
        return Inbound(_event(doc), doc.event_id)

    def render(self, actions: Sequence[Action], context: RenderContext) -> Document:
        """The actions and the call summary the pipeline puts in the context."""
        if any(isinstance(action, SecurePayment) for action in actions):
            return self.render_to_agent(context)  # only Twilio takes cards itself (<Pay>)
        document = {
            "protocol": PROTOCOL_VERSION,
            "call_id": context.call_id,
            "actions": [_action(action, context) for action in actions],
            "call": dict(context.call) if context.call is not None else None,
        }
        return Document(JSON_TYPE, _dumps(document))

    def render_to_agent(self, context: RenderContext) -> Document:
        transfer = {
            "type": "transfer",
            "kind": "agent",
            "target": self._agent_target,
            "route": "fallback",
            "handoff": {"idv_status": "not_identified", "reason": "state_lost"},
        }
        document = {
            "protocol": PROTOCOL_VERSION,
            "call_id": context.call_id,
            "actions": [transfer],
            "call": None,
        }
        return Document(JSON_TYPE, _dumps(document))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _problem(error: ValidationError) -> str:
    """What was wrong, by field, never with the value sent (it may be a caller's keys)."""
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)[:300]


def _event(doc: protocol.Event) -> CallEvent:
    """The model of an event as the core's event."""
    call_id = doc.call_id
    if isinstance(doc, protocol.CallStartedEvent):
        context = outbound_context(doc.context, doc.context.get("answered_by"))
        trust = CallerIdTrust(doc.caller_id_trust)
        return CallStarted(call_id, doc.ani, doc.dnis, trust, context=context)
    if isinstance(doc, protocol.DigitsEvent):
        return DigitsCollected(call_id, doc.digits, DigitsTermination(doc.terminated_by))
    if isinstance(doc, protocol.NoInputEvent):
        return NoInput(call_id)
    if isinstance(doc, protocol.HangupEvent):
        return HungUp(call_id)
    if isinstance(doc, protocol.PromptFinishedEvent):
        return PromptFinished(call_id)
    return TransferResult(call_id, doc.result)


def _prompts(prompts: Sequence[PromptRef], context: RenderContext) -> list[dict[str, Any]]:
    return [
        {"id": ref.prompt_id, "text": ref.text, "audio_url": context.prompt_url(ref)}
        for ref in prompts
    ]


def _action(action: Action, context: RenderContext) -> dict[str, Any]:
    if isinstance(action, Play):
        return {
            "type": "play",
            "prompts": _prompts(action.prompts, context),
            "barge_in": action.barge_in,
        }
    if isinstance(action, CollectDigits):
        return {
            "type": "collect",
            "prompts": _prompts(action.prompts, context),
            "min_digits": action.min_digits,
            "max_digits": action.max_digits,
            "term_key": action.term_key,
            "timeout_s": action.timeout_s,
            "inter_digit_timeout_s": action.inter_digit_timeout_s,
            "barge_in": action.barge_in,
            "dont_have_key": action.dont_have_key,
            "step": action.step,
            "attempt": action.attempt,
            "secure": action.secure,
        }
    if isinstance(action, Transfer):
        return {
            "type": "transfer",
            "kind": action.kind.value,
            "target": action.target,
            "route": action.route_name,
            "handoff": action.handoff,
        }
    assert isinstance(action, Hangup)
    return {"type": "hangup", "reason": action.reason}
