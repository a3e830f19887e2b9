"""Twilio Programmable Voice: form-encoded webhooks in, TwiML out.

Request kinds (each mounted as /twilio/<kind>): `voice` (incoming call), `gather` (the
`<Gather>` action URL, carrying step/attempt in its query; also `<Pay>`'s, with `event=pay`),
`status` (call status callback). A call redirected by the REST API for an agent's secure
session requests `gather` with `event=secure_session`.
Every request must carry a valid X-Twilio-Signature made with the account's auth token
(IVR_TWILIO_AUTH_TOKEN); it covers the URL, query included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
from ivr.adapters.outbound import outbound_context
from ivr.adapters.signatures import verify_twilio
from ivr.adapters.twiml import DEFAULT_TRANSFERS, TwilioTransfer, render_twiml
from ivr.adapters.wire import TERMINAL_CALL_STATUSES, parse_form, positive_int
from ivr.engine.actions import Action, RouteKind, Transfer
from ivr.engine.events import (
    CallerIdTrust,
    CallEvent,
    CallStarted,
    DigitsCollected,
    DigitsTermination,
    HungUp,
    NoInput,
    PaymentResult,
    PromptFinished,
    TransferResult,
)

TOKEN_ENV = "IVR_TWILIO_AUTH_TOKEN"
SIGNATURE_HEADER = "X-Twilio-Signature"
TWIML_TYPE = "text/xml; charset=utf-8"
# the query of the URL a call is redirected to for an agent's secure session (REST update)
SECURE_EVENT = "secure_session"

_ATTESTATION = {"A": CallerIdTrust.FULL, "B": CallerIdTrust.PARTIAL, "C": CallerIdTrust.GATEWAY}


def caller_id_trust(verstat: str | None) -> CallerIdTrust:
    """Twilio's StirVerstat as the call's caller-ID trust.

    `TN-Validation-Passed-A` (also with a `-Diverted`/`-Passthrough` suffix) -> A, likewise B
    and C; any `TN-Validation-Failed...` -> failed; absent, `No-TN-Validation` or anything
    unrecognised -> unknown (never more trust than Twilio stated).
    """
    if not verstat:
        return CallerIdTrust.UNKNOWN
    value = verstat.strip()
    if value.startswith("TN-Validation-Failed"):
        return CallerIdTrust.FAILED
    prefix = "TN-Validation-Passed-"
    if value.startswith(prefix):
        level = value[len(prefix) : len(prefix) + 1]
        rest = value[len(prefix) + 1 :]
        if level in _ATTESTATION and (not rest or rest.startswith("-")):
            return _ATTESTATION[level]
    return CallerIdTrust.UNKNOWN


def _pay_result(call_id: str, form: Mapping[str, str], query: Mapping[str, str]) -> CallEvent:
    """`<Pay>`'s action callback: the result and what identifies the charge. The masked card
    number gives its last four only; the digits never come here."""
    result = form.get("Result", "")
    if not result:
        raise BadRequest("Result missing from the <Pay> callback")
    masked = form.get("PaymentCardNumber", "")
    return PaymentResult(
        call_id=call_id,
        step=query.get("step", ""),
        result=result,
        card_type=form.get("PaymentCardType", ""),
        last4=masked[-4:] if masked[-4:].isdigit() else "",
        reference=form.get("PaymentConfirmationCode", ""),
        token=form.get("PaymentToken") or form.get("ProfileId", ""),
        error=form.get("PaymentError") or form.get("ConnectorError", ""),
    )


class TwilioAdapter(Adapter):
    """Translates Twilio webhooks; decides nothing about the call."""

    name = "twilio"
    kinds = ("voice", "gather", "status")
    action_kind = "gather"

    def __init__(
        self,
        auth_token: str | None = None,
        *,
        transfers: Mapping[RouteKind, TwilioTransfer] | None = None,
        route_transfers: Mapping[str, TwilioTransfer] | None = None,
        agent_target: str = "agent",
    ) -> None:
        """`auth_token` is IVR_TWILIO_AUTH_TOKEN (ivr.settings); without one every request is
        refused.

        `agent_target` is where `render_to_agent` sends a caller whose call is unknown.
        """
        self._token = auth_token or ""
        self._transfers = dict(DEFAULT_TRANSFERS)
        self._transfers.update(transfers or {})
        self._route_transfers = dict(route_transfers or {})  # by route name: wins over kind
        self._agent_target = agent_target

    # -- inbound -----------------------------------------------------------------------------

    def parse(self, kind: str, url: str, headers: Headers, body: bytes) -> Inbound:
        """`url` is what Twilio requested and signed: the query with it (step, attempt) is
        Twilio's to vouch for, so a changed step or attempt fails the signature."""
        try:
            params = parse_form(body.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise BadRequest("body is not a valid form") from error
        signature = headers.get(SIGNATURE_HEADER)
        if not verify_twilio(self._token, url, params, signature):
            raise Unauthorized("missing or invalid X-Twilio-Signature")
        form = dict(params)
        call_id = call_id_of(form.get("CallSid"), "CallSid")
        # the verified signature is an HMAC of the URL and every field: a redelivery of the same
        # event carries the same one, any other event another, so it keys the delivery
        key = f"{kind}:{signature}"
        query = dict(parse_form(url.partition("?")[2])) if "?" in url else {}
        if kind == "voice":
            event: CallEvent = CallStarted(
                call_id=call_id,
                ani=form.get("From") or None,
                dnis=form.get("To") or None,
                caller_id_trust=caller_id_trust(form.get("StirVerstat")),
                context=outbound_context(query, form.get("AnsweredBy")),
            )
        elif kind == "gather":
            event = self._gather_event(call_id, form, query)
        elif kind == "status":
            event = self._status_event(call_id, form)
        else:
            raise BadRequest(f"unknown Twilio request kind {kind!r}")
        return Inbound(event=event, delivery_key=key)

    @staticmethod
    def _gather_event(call_id: str, form: Mapping[str, str], query: Mapping[str, str]) -> CallEvent:
        """Empty Digits (actionOnEmptyResult) is no input; `event=played` ends a prompt-only doc."""
        if query.get("event") in ("played", SECURE_EVENT):
            return PromptFinished(call_id)  # SECURE_EVENT: the engine brought the caller over
        if query.get("event") == "pay":
            return _pay_result(call_id, form, query)
        digits = form.get("Digits", "")
        if not digits:
            return NoInput(call_id)
        max_digits = positive_int(query.get("max"))
        if form.get("FinishedOnKey"):
            why = DigitsTermination.TERM_KEY
        elif max_digits is not None and len(digits) >= max_digits:
            why = DigitsTermination.MAX_DIGITS
        else:
            why = DigitsTermination.INTER_DIGIT_TIMEOUT
        return DigitsCollected(call_id, digits, why)

    @staticmethod
    def _status_event(call_id: str, form: Mapping[str, str]) -> CallEvent:
        """A terminal CallStatus ends the call; any other status is informational only."""
        status = form.get("CallStatus", "")
        if not status:
            raise BadRequest("CallStatus missing")
        if status in TERMINAL_CALL_STATUSES:
            return HungUp(call_id)
        # not a hang-up: the engine ignores a TransferResult for a call it is running
        return TransferResult(call_id, f"status:{status}")

    # -- outbound ----------------------------------------------------------------------------

    def render(self, actions: Sequence[Action], context: RenderContext) -> Document:
        twiml = render_twiml(actions, context, self._transfers, self._route_transfers)
        return Document(TWIML_TYPE, twiml.encode())

    def render_to_agent(self, context: RenderContext) -> Document:
        fallback = Transfer(
            RouteKind.AGENT, self._agent_target, "agent", {"idv_status": "not_identified"}
        )
        return self.render([fallback], context)
