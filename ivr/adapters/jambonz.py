"""jambonz: JSON webhooks in, verb arrays out.

Request kinds (each mounted as /jambonz/<kind>): `call` (the application's call hook), `action`
(every actionHook we hand out, carrying step/attempt in its query and our MAC over them),
`status` (call status hook). Requests must carry `Jambonz-Signature: t=...,v1=...` made with
the webhook secret (IVR_JAMBONZ_SECRET; several secrets, comma-separated, while rotating).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from ivr.adapters.base import (
    Adapter,
    BadRequest,
    Document,
    Headers,
    Inbound,
    RenderContext,
    Unauthorized,
    call_id_of,
)
from ivr.adapters.jambonz_verbs import DEFAULT_TRANSFERS, JambonzTransfer, render_verbs
from ivr.adapters.outbound import outbound_context
from ivr.adapters.signatures import verify_timestamped
from ivr.adapters.wire import JSON_TYPE, TERMINAL_CALL_STATUSES, loads_json, positive_int
from ivr.engine.actions import Action, RouteKind, SecurePayment, Transfer
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

SECRET_ENV = "IVR_JAMBONZ_SECRET"
SIGNATURE_HEADER = "Jambonz-Signature"

_VERSTAT = re.compile(r"verstat=([A-Za-z-]+)", re.IGNORECASE)
_LEVELS = {"A": CallerIdTrust.FULL, "B": CallerIdTrust.PARTIAL, "C": CallerIdTrust.GATEWAY}


def caller_id_trust(payload: Mapping[str, Any]) -> CallerIdTrust:
    """Caller-ID trust from the INVITE headers jambonz forwards in `sip.headers`.

    jambonz itself verifies nothing; a carrier that checked STIR/SHAKEN marks the number with
    a `verstat=` parameter (P-Asserted-Identity or From). `TN-Validation-Passed-A/B/C` gives
    the level; a bare `TN-Validation-Passed` gives C, the lowest passing level, as no level is
    stated; `TN-Validation-Failed...` -> failed; nothing -> unknown.
    """
    sip = payload.get("sip")
    headers = sip.get("headers") if isinstance(sip, Mapping) else None
    if not isinstance(headers, Mapping):
        return CallerIdTrust.UNKNOWN
    lowered = {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}
    for name in ("p-asserted-identity", "from"):
        found = _VERSTAT.search(lowered.get(name, ""))
        if found is None:
            continue
        value = found.group(1)
        if value.lower().startswith("tn-validation-failed"):
            return CallerIdTrust.FAILED
        if value.lower().startswith("tn-validation-passed"):
            level = value[len("TN-Validation-Passed-") :][:1].upper()
            return _LEVELS.get(level, CallerIdTrust.GATEWAY)
        return CallerIdTrust.UNKNOWN
    return CallerIdTrust.UNKNOWN


HOOK_MAC = "sig"  # the action-hook query parameter that carries our MAC


class HookSigner:
    """Our MAC on the query of every action hook we hand out, bound to the call.

    jambonz signs the body it posts, not the URL: the step, attempt and digit count an action
    hook carries would otherwise be anyone's to change. The MAC covers the call id and every
    query pair, under a key derived from the webhook secret (each secret while rotating).
    """

    def __init__(self, secrets: Sequence[str]) -> None:
        label = b"ivr jambonz action hook v1"
        self._keys = [hmac.new(s.encode(), label, hashlib.sha256).digest() for s in secrets if s]

    def _mac(self, key: bytes, call_id: str, query: Sequence[tuple[str, str]]) -> str:
        text = call_id + "\n" + "&".join(f"{name}={value}" for name, value in query)
        mac = hmac.new(key, text.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def sign(self, call_id: str, query: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if not self._keys:
            return query
        return [*query, (HOOK_MAC, self._mac(self._keys[0], call_id, query))]

    def check(self, call_id: str, query: Sequence[tuple[str, str]]) -> bool:
        """True when the query carries a MAC we made for this call over exactly these pairs."""
        given = [value for name, value in query if name == HOOK_MAC]
        if len(given) != 1 or not given[0].isascii():
            return False
        pairs = [(name, value) for name, value in query if name != HOOK_MAC]
        return any(
            hmac.compare_digest(self._mac(key, call_id, pairs), given[0]) for key in self._keys
        )


class JambonzAdapter(Adapter):
    """Translates jambonz webhooks; decides nothing about the call."""

    name = "jambonz"
    kinds = ("call", "action", "status")
    action_kind = "action"

    def __init__(
        self,
        secrets: Sequence[str] | None = None,
        *,
        transfers: Mapping[RouteKind, JambonzTransfer] | None = None,
        route_transfers: Mapping[str, JambonzTransfer] | None = None,
        tts_vendor: str | None = None,
        agent_target: str = "agent",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`secrets` are IVR_JAMBONZ_SECRET's (ivr.settings); without any, every request is
        refused.

        `tts_vendor` (e.g. "google") lets `say` carry the call's language; without it the
        application's default synthesizer speaks. `agent_target` is where `render_to_agent`
        dials a caller whose call is unknown.
        """
        self._secrets = list(secrets or ())
        self._hooks = HookSigner(self._secrets)
        self._transfers = dict(DEFAULT_TRANSFERS)
        self._transfers.update(transfers or {})
        self._route_transfers = dict(route_transfers or {})  # by route name: wins over kind
        self._tts_vendor = tts_vendor
        self._agent_target = agent_target
        self._clock = clock

    # -- inbound -----------------------------------------------------------------------------

    def parse(self, kind: str, url: str, headers: Headers, body: bytes) -> Inbound:
        if not verify_timestamped(
            self._secrets, headers.get(SIGNATURE_HEADER), body, clock=self._clock
        ):
            raise Unauthorized("missing, stale or invalid Jambonz-Signature")
        payload = loads_json(body)
        if not isinstance(payload, dict):
            raise BadRequest("body is not a JSON object")
        call_id = call_id_of(payload.get("call_sid"), "call_sid")
        _, _, query_text = url.partition("?")
        pairs = parse_qsl(query_text, keep_blank_values=True) if query_text else []
        if kind == "action" and not self._hooks.check(call_id, pairs):
            # a hook we never handed out for this call, or one whose step/attempt was changed
            raise Unauthorized("action hook without our valid signature for this call")
        query = dict(pairs)
        content = hashlib.sha256(body + b"?" + query_text.encode()).hexdigest()[:24]
        key = f"{kind}:{content}"
        if kind == "call":
            event: CallEvent = call_started(call_id, payload, outbound_context(dict(pairs)))
        elif kind == "action":
            event = action_event(call_id, payload, query)
        elif kind == "status":
            event = status_event(call_id, payload)
        else:
            raise BadRequest(f"unknown jambonz request kind {kind!r}")
        return Inbound(event=event, delivery_key=key)

    # -- outbound ----------------------------------------------------------------------------

    def render(self, actions: Sequence[Action], context: RenderContext) -> Document:
        if any(isinstance(action, SecurePayment) for action in actions):
            return self.render_to_agent(context)  # only Twilio takes cards itself (<Pay>)
        call_id = context.call_id
        verbs = render_verbs(
            actions,
            context,
            transfers=self._transfers,
            by_route=self._route_transfers,
            tts_vendor=self._tts_vendor,
            sign=lambda query: self._hooks.sign(call_id, query),
        )
        return Document(JSON_TYPE, json.dumps(verbs).encode())

    def render_to_agent(self, context: RenderContext) -> Document:
        fallback = Transfer(
            RouteKind.AGENT, self._agent_target, "agent", {"idv_status": "not_identified"}
        )
        return self.render([fallback], context)


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


def call_started(
    call_id: str, payload: Mapping[str, Any], context: Mapping[str, str] | None = None
) -> CallStarted:
    """The call hook's (or WebSocket `session:new`'s) payload: caller, called line, trust;
    `context` names the callback of an outbound call (ivr.adapters.outbound)."""
    return CallStarted(
        call_id=call_id,
        ani=_text(payload, "from"),
        dnis=_text(payload, "to"),
        caller_id_trust=caller_id_trust(payload),
        context=dict(context or {}),
    )


def action_event(call_id: str, payload: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
    """`dtmfDetected` -> digits; `timeout` and anything else (error, speech) -> no input."""
    if query.get("event") == "played":
        return PromptFinished(call_id)
    digits = payload.get("digits")
    if payload.get("reason") != "dtmfDetected" or not isinstance(digits, str) or not digits:
        return NoInput(call_id)
    max_digits = positive_int(query.get("max"))
    if max_digits is not None and len(digits) >= max_digits:
        why = DigitsTermination.MAX_DIGITS
    else:
        # jambonz does not say whether the finish key or the inter-digit timer ended input
        why = DigitsTermination.INTER_DIGIT_TIMEOUT
    return DigitsCollected(call_id, digits, why)


def status_event(call_id: str, payload: Mapping[str, Any]) -> CallEvent:
    """A terminal status of our (inbound) leg ends the call; the rest is informational."""
    status = payload.get("call_status")
    if not isinstance(status, str) or not status:
        raise BadRequest("call_status missing")
    if status in TERMINAL_CALL_STATUSES and payload.get("direction", "inbound") == "inbound":
        return HungUp(call_id)
    # not a hang-up of our leg: the engine ignores a TransferResult for a call it is running
    return TransferResult(call_id, f"status:{status}")
