"""jambonz: JSON webhooks in, verb arrays out.

Routes (mounted under /jambonz/): `call` (the application's call hook), `action` (every
actionHook we hand out, carrying step/attempt in its query), `status` (call status hook).
Requests must carry `Jambonz-Signature: t=...,v1=...` made with the webhook secret
(IVR_JAMBONZ_SECRET; several secrets, comma-separated, while rotating).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from ivr.adapters.base import BadRequest, Inbound, RenderContext, Unauthorized
from ivr.adapters.jambonz_verbs import DEFAULT_TRANSFERS, JambonzTransfer, render_verbs
from ivr.adapters.signatures import verify_jambonz
from ivr.adapters.wire import TERMINAL_CALL_STATUSES, digest, positive_int
from ivr.engine.actions import Action, RouteKind, Transfer
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


def _secrets_from_env() -> list[str]:
    return [s.strip() for s in os.environ.get(SECRET_ENV, "").split(",") if s.strip()]


class JambonzAdapter:
    """Translates jambonz webhooks; decides nothing about the call."""

    name = "jambonz"
    paths: tuple[str, ...] = ("call", "action", "status")

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
        """`secrets` default to $IVR_JAMBONZ_SECRET; without any, every request is refused.

        `tts_vendor` (e.g. "google") lets `say` carry the call's language; without it the
        application's default synthesizer speaks. `agent_target` is where `render_to_agent`
        dials a caller whose call is unknown.
        """
        self._secrets = list(secrets) if secrets is not None else _secrets_from_env()
        self._transfers = dict(DEFAULT_TRANSFERS)
        self._transfers.update(transfers or {})
        self._route_transfers = dict(route_transfers or {})  # by route name: wins over kind
        self._tts_vendor = tts_vendor
        self._agent_target = agent_target
        self._clock = clock

    # -- inbound -----------------------------------------------------------------------------

    async def parse(self, request: web.Request, body: bytes) -> Inbound:
        if not verify_jambonz(
            self._secrets, request.headers.get(SIGNATURE_HEADER), body, clock=self._clock
        ):
            raise Unauthorized("missing, stale or invalid Jambonz-Signature")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError) as error:
            raise BadRequest("body is not JSON") from error
        if not isinstance(payload, dict):
            raise BadRequest("body is not a JSON object")
        call_id = payload.get("call_sid")
        if not isinstance(call_id, str) or not call_id:
            raise BadRequest("call_sid missing")
        kind = request.path.rstrip("/").rsplit("/", 1)[-1]
        query = request.rel_url.query
        step, attempt = query.get("step", ""), positive_int(query.get("attempt"))
        content = digest(payload, sorted(query.items()))
        key = f"jambonz:{call_id}:{kind}:{step}:{attempt or ''}:{content}"
        if kind == "call":
            event: CallEvent = call_started(call_id, payload)
        elif kind == "action":
            event = action_event(call_id, payload, query)
        elif kind == "status":
            event = status_event(call_id, payload)
        else:
            raise BadRequest(f"unknown jambonz path {kind!r}")
        return Inbound(event=event, delivery_key=key)

    # -- outbound ----------------------------------------------------------------------------

    def render(self, actions: Sequence[Action], context: RenderContext) -> web.Response:
        verbs = render_verbs(
            actions,
            context,
            transfers=self._transfers,
            by_route=self._route_transfers,
            tts_vendor=self._tts_vendor,
        )
        return web.json_response(verbs)

    def render_to_agent(self, context: RenderContext) -> web.Response:
        fallback = Transfer(
            RouteKind.AGENT, self._agent_target, "agent", {"idv_status": "not_identified"}
        )
        return self.render([fallback], context)


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


def call_started(call_id: str, payload: Mapping[str, Any]) -> CallStarted:
    """The call hook's (or WebSocket `session:new`'s) payload: caller, called line, trust."""
    return CallStarted(
        call_id=call_id,
        ani=_text(payload, "from"),
        dnis=_text(payload, "to"),
        caller_id_trust=caller_id_trust(payload),
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
