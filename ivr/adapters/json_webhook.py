"""JSON webhook adapter: our own documented protocol (docs/json-webhook.md), translation only.

One endpoint, `POST /json/events`. Each request is one event as a JSON object with an
`event_id` (idempotency) and is signed: `X-IVR-Signature: t=<unix>,v1=<hex>` where v1 is
HMAC-SHA256(secret, "<t>." + raw body), checked in constant time within a 300 s window.
The answer lists the actions to perform and a `call` summary (status, customer, attempts,
flow version) so a client such as the simulator can report results without reading logs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ivr.adapters.base import (
    Adapter,
    BadRequest,
    Document,
    Headers,
    Inbound,
    RenderContext,
    Unauthorized,
)
from ivr.adapters.signatures import timestamped_header, verify_timestamped
from ivr.adapters.wire import JSON_TYPE, loads_json
from ivr.engine.actions import Action, CollectDigits, Hangup, Play, PromptRef, Transfer
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

SIGNATURE_HEADER = "X-IVR-Signature"
WINDOW_S = 300
PROTOCOL_VERSION = "1"
EVENT_TYPES = (
    "call.started",
    "digits",
    "no_input",
    "hangup",
    "prompt_finished",
    "transfer_result",
)
_DIGITS = re.compile(r"[0-9*#]{0,64}")
_ID = re.compile(r"[A-Za-z0-9._:@+-]{1,128}")


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
        doc = loads_json(body)
        if not isinstance(doc, dict):
            raise BadRequest("body must be a JSON object")
        event_id = _identifier(doc, "event_id")
        call_id = _identifier(doc, "call_id")
        return Inbound(_event(doc, call_id), f"json:{event_id}")

    def render(self, actions: Sequence[Action], context: RenderContext) -> Document:
        """The actions and the call summary the pipeline puts in the context."""
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


def _identifier(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise BadRequest(f"{name} must be 1-128 characters of [A-Za-z0-9._:@+-]")
    return value


def _optional_text(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequest(f"{name} must be a string of at most 64 characters")
    return value


def _event(doc: Mapping[str, Any], call_id: str) -> CallEvent:
    kind = doc.get("type")
    if kind == "call.started":
        trust = doc.get("caller_id_trust", "unknown")
        try:
            caller_id_trust = CallerIdTrust(trust)
        except ValueError:
            raise BadRequest("caller_id_trust must be one of A, B, C, failed, unknown") from None
        ani, dnis = _optional_text(doc, "ani"), _optional_text(doc, "dnis")
        return CallStarted(call_id, ani, dnis, caller_id_trust)
    if kind == "digits":
        digits = doc.get("digits")
        if not isinstance(digits, str) or not _DIGITS.fullmatch(digits):
            raise BadRequest("digits must be at most 64 of 0-9 * #")  # never echo the keys
        try:
            terminated_by = DigitsTermination(doc.get("terminated_by", "term_key"))
        except ValueError:
            allowed = ", ".join(member.value for member in DigitsTermination)
            raise BadRequest(f"terminated_by must be one of {allowed}") from None
        return DigitsCollected(call_id, digits, terminated_by)
    if kind == "no_input":
        return NoInput(call_id)
    if kind == "hangup":
        return HungUp(call_id)
    if kind == "prompt_finished":
        return PromptFinished(call_id)
    if kind == "transfer_result":
        result = _optional_text(doc, "result")
        if not result:
            raise BadRequest("transfer_result needs a result")
        return TransferResult(call_id, result)
    raise BadRequest(f"type must be one of {', '.join(EVENT_TYPES)}")


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
