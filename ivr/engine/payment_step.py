"""The `payment` step at run time: one card field per webhook, then the processor.

Between two webhooks what was keyed in so far sits in the call's state only sealed
(ivr.payments.vault); it is opened for the few microseconds a webhook needs it and dropped
from the state as soon as the processor answers or the call ends. Journal records carry the
field, the kind of input and its length, then the outcome, brand, last four, the processor's
token and reference: never a digit of the card number, expiry or CVV.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ivr.engine.actions import CollectDigits, PromptRef, SecurePayment
from ivr.engine.events import PaymentResult
from ivr.engine.operate import within
from ivr.engine.scope import call_scope
from ivr.engine.state import CallState
from ivr.engine.turn import Turn
from ivr.flow.expressions import parse_expression
from ivr.flow.machine import StepPlan
from ivr.flow.model import FlowFile, PaymentStep
from ivr.journal.records import RecordKind
from ivr.payments import metrics
from ivr.payments.amounts import AmountError, from_minor, to_minor
from ivr.payments.capture import CardField, accept, cancelled, digit_range, next_field
from ivr.payments.cards import brand_of, last_four, masked
from ivr.payments.processor import (
    CardDetails,
    ChargeRequest,
    ChargeResult,
    PaymentProcessor,
    pay,
)
from ivr.payments.vault import CardEntry, EntryUnreadable, PaymentVault

_log = logging.getLogger(__name__)
Prompts = Callable[[Sequence[str]], tuple[PromptRef, ...]]
# what a gateway that takes the card itself answers -> the step's outcome (Twilio <Pay>'s
# Result; anything it may add later is an error, never paid)
GATEWAY_OUTCOMES: dict[str, str] = {
    "success": "paid",
    "payment-connector-error": "declined",
    "caller-interrupted-with-star": "cancelled",
    "too-many-failed-attempts": "cancelled",
    "caller-hung-up": "cancelled",
}
# the gateway's names of the fields, for the prompts it says
GATEWAY_FIELDS: dict[CardField, str] = {
    "card_number": "payment-card-number",
    "expiry": "expiration-date",
    "cvv": "security-code",
    "postcode": "postal-code",
}
GATEWAY_PROCESSOR = "twilio_pay"
FIELD_PROMPTS: dict[CardField, str] = {
    "card_number": "card_number_prompt",
    "expiry": "expiry_prompt",
    "cvv": "cvv_prompt",
    "postcode": "postcode_prompt",
}


@dataclass(frozen=True, slots=True)
class PaymentSettings:
    """What payment steps charge with, and the vault sealing card entries between webhooks."""

    vault: PaymentVault
    processor: PaymentProcessor
    deadline_s: float = 2.0
    today: Callable[[], date] = date.today


class PaymentRunner:
    def __init__(self, settings: PaymentSettings) -> None:
        self.settings = settings

    def enter(self, turn: Turn, plan: StepPlan, flow: FlowFile, prompts: Prompts) -> CollectDigits:
        """Start a visit: the first field, a fresh entry, attempts from one."""
        state = turn.state
        state.payment = {
            "step": plan.step_id,
            "field": "card_number",
            "attempt": 1,
            "retries": {},
            "sealed": None,
            "visit": state.steps_taken,
        }
        return self._collect(turn, plan, flow, prompts, CardEntry(), None)

    async def on_keys(
        self,
        turn: Turn,
        plan: StepPlan,
        flow: FlowFile,
        prompts: Prompts,
        keys: str | None,
        settings: Mapping[str, Any],
    ) -> str | None:
        """The step's outcome, or None once the next collect action is on the turn."""
        state = turn.state
        pay_state = state.payment
        if not pay_state or pay_state.get("step") != plan.step_id:
            return self._finish(turn, plan, "error", detail="no payment in progress")
        field: CardField = pay_state["field"]
        attempt = int(pay_state["attempt"])
        state.attempts[plan.step_id] = attempt  # the field's attempt being answered
        data: dict[str, Any] = {"field": field, "length": len(keys or "")}
        if keys is not None and cancelled(keys):
            data["kind"] = "cancel"
            turn.record(RecordKind.INPUT, step=plan.step_id, attempt=attempt, data=data)
            return self._finish(turn, plan, "cancelled", detail="caller pressed *")
        try:
            entry = self.settings.vault.open(pay_state["sealed"], state.call_id, plan.step_id)
        except EntryUnreadable:
            return self._finish(turn, plan, "error", detail="sealed entry unreadable")
        failure = "no_input"
        if keys:
            problem = accept(entry, field, keys, self.settings.today())
            data["kind"] = "digits" if problem is None else "invalid"
            if problem is not None:
                data["problem"] = problem.value
                failure = "invalid"
        else:
            data["kind"] = "no_input"
        turn.record(RecordKind.INPUT, step=plan.step_id, attempt=attempt, data=data)
        if data["kind"] == "digits":
            following = next_field(field, flow_postcode(plan))
            if following is None:
                return await self._charge(turn, plan, entry, call_scope(state, settings))
            pay_state.update(field=following, attempt=1, retries={})
            state.attempts[plan.step_id] = 1
            pay_state["sealed"] = self.settings.vault.seal(entry, state.call_id, plan.step_id)
            turn.actions.append(self._collect(turn, plan, flow, prompts, entry, None))
            return None
        if attempt >= plan.max_attempts:
            return self._finish(turn, plan, "cancelled", detail=f"max_attempts ({field})")
        retries: dict[str, int] = pay_state["retries"]
        retries[failure] = retries.get(failure, 0) + 1
        pay_state["attempt"] = state.attempts[plan.step_id] = attempt + 1
        turn.actions.append(self._collect(turn, plan, flow, prompts, entry, failure))
        return None

    # -- the gateway takes the card (Twilio <Pay>) ------------------------------------------

    def enter_gateway(
        self,
        turn: Turn,
        plan: StepPlan,
        prompts: Prompts,
        connector: str,
        settings: Mapping[str, Any],
    ) -> SecurePayment | str:
        """The action handing the card to the gateway, or `error` when the amount is wrong."""
        state = turn.state
        step = plan.model
        assert isinstance(step, PaymentStep)
        priced = self._price(step, call_scope(state, settings))
        if isinstance(priced, str):
            data = {"operation": "payment.charge", "processor": GATEWAY_PROCESSOR, "detail": priced}
            turn.record(RecordKind.OPERATION, step=plan.step_id, outcome="error", data=data)
            return self._finish(turn, plan, "error", detail=None, processor=GATEWAY_PROCESSOR)
        minor, currency = priced
        state.payment = {"step": plan.step_id, "gateway": GATEWAY_PROCESSOR}
        said = []
        for field, key in FIELD_PROMPTS.items():
            prompt_id = getattr(step.payment, key)
            if prompt_id is not None:
                said.append((GATEWAY_FIELDS[field], prompts([prompt_id])[0]))
        assert plan.input is not None
        return SecurePayment(
            amount=from_minor(minor, currency),
            currency=currency,
            connector=connector,
            step=plan.step_id,
            description=_description(state, step),
            postal_code=step.payment.postcode_prompt is not None,
            max_attempts=min(plan.max_attempts, 3),  # <Pay> allows at most 3
            timeout_s=plan.input.timeout_s,
            prompts=tuple(said),
        )

    def on_gateway_result(self, turn: Turn, plan: StepPlan, event: PaymentResult) -> str | None:
        """The outcome of what the gateway reports; None when it is not this step's."""
        state = turn.state
        pay_state = state.payment or {}
        if pay_state.get("gateway") != GATEWAY_PROCESSOR or event.step != plan.step_id:
            return None  # a late or stray callback changes nothing
        outcome = GATEWAY_OUTCOMES.get(event.result, "error")
        last4 = event.last4[-4:] if event.last4[-4:].isdigit() else ""
        brand = event.card_type if event.card_type.replace("-", "").isalpha() else ""
        values = {
            "payment_outcome": outcome,
            "payment_reference": event.reference,
            "card_brand": brand,
            "card_last4": last4,
            "card_masked": ("*" * 12 + last4) if last4 else "",
        }
        state.variables.update(values)
        data = {
            "operation": "payment.charge",
            "processor": GATEWAY_PROCESSOR,
            "detail": event.result if outcome != "paid" else None,
            "brand": brand,
            "last4": last4,
            "token": event.token or None,
            "reference": event.reference or None,
        }
        turn.record(RecordKind.OPERATION, step=plan.step_id, outcome=outcome, data=data)
        return self._finish(turn, plan, outcome, detail=None, processor=GATEWAY_PROCESSOR)

    def _price(self, step: PaymentStep, scope: dict[str, Any]) -> tuple[int, str] | str:
        """(amount in minor units, currency), or why they cannot be charged."""
        currency = _value(step.payment.currency, scope, literal_if=_is_currency)
        try:
            if not isinstance(currency, str) or not _is_currency(currency):
                raise AmountError("the currency is not an ISO 4217 code")
            return to_minor(_value(step.payment.amount, scope), currency), currency
        except AmountError as error:
            return str(error)

    # -- collecting ------------------------------------------------------------------------

    def _collect(
        self,
        turn: Turn,
        plan: StepPlan,
        flow: FlowFile,
        prompts: Prompts,
        entry: CardEntry,
        failure: str | None,
    ) -> CollectDigits:
        step = plan.model
        assert isinstance(step, PaymentStep)
        assert plan.input is not None
        pay_state = turn.state.payment or {}
        field: CardField = pay_state.get("field", "card_number")
        attempt = int(pay_state.get("attempt", 1))
        own_prompt = getattr(step.payment, FIELD_PROMPTS[field])
        ids = [own_prompt]
        if failure is not None:
            count = int(pay_state.get("retries", {}).get(failure, 1))
            escalation: list[str] = list(getattr(step.payment, failure, ())) or list(
                getattr(flow.defaults, failure, ())
            )
            if escalation:
                ids = [escalation[min(count, len(escalation)) - 1], own_prompt]
        low, high = digit_range(field, entry)
        return CollectDigits(
            prompts=prompts(ids),
            min_digits=low,
            max_digits=high,
            term_key=plan.input.term_key,
            timeout_s=plan.input.timeout_s,
            inter_digit_timeout_s=plan.input.inter_digit_timeout_s,
            barge_in=plan.input.barge_in,
            dont_have_key="*",
            step=plan.step_id,
            attempt=attempt,
            secure=True,
        )

    # -- charging --------------------------------------------------------------------------

    async def _charge(
        self, turn: Turn, plan: StepPlan, entry: CardEntry, scope: dict[str, Any]
    ) -> str:
        state = turn.state
        step = plan.model
        assert isinstance(step, PaymentStep)
        priced = self._price(step, scope)
        if isinstance(priced, str):
            return self._finish(turn, plan, "error", detail=priced)
        minor, currency = priced
        processor = self.settings.processor
        card = CardDetails(entry.pan, entry.expiry, entry.cvv, entry.postcode or None)
        request = ChargeRequest(
            amount_minor=minor,
            currency=currency,
            idempotency_key=f"{state.call_id}:{plan.step_id}:{(state.payment or {}).get('visit')}",
            description=_description(state, step),
        )
        rule = brand_of(entry.pan)
        started = time.perf_counter()
        try:
            result = await within(self.settings.deadline_s, pay(processor, card, request))
        except TimeoutError:
            result = ChargeResult("error", detail="timeout")
        except Exception as error:  # a processor bug: name its class only, never its text
            result = ChargeResult("error", detail=type(error).__name__)
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        if result.outcome == "error":
            metrics.PROCESSOR_ERRORS.labels(processor.name, result.detail or "error").inc()
            _log.warning(
                "payment processor failed; caller routed on",
                extra={
                    "call_id": state.call_id,
                    "processor": processor.name,
                    "kind": result.detail,
                },
            )
        values = {
            "payment_outcome": result.outcome,
            "payment_reference": result.reference or "",
            "card_brand": rule.brand.value if rule is not None else "",
            "card_last4": last_four(entry.pan),
            "card_masked": masked(entry.pan),
            "payment_amount": from_minor(minor, currency),
            "payment_currency": currency,
        }
        data = {
            "operation": "payment.charge",
            "processor": processor.name,
            "detail": result.detail,
            "brand": values["card_brand"],
            "last4": values["card_last4"],
            "token": result.token,
            "reference": result.reference,
            "amount": values["payment_amount"],
            "currency": currency,
        }
        del entry, card  # the digits go no further than this frame
        turn.record(
            RecordKind.OPERATION,
            step=plan.step_id,
            outcome=result.outcome,
            duration_ms=elapsed,
            data=data,
        )
        state.variables.update(values)
        return self._finish(turn, plan, result.outcome, detail=None, processor=processor.name)

    def _finish(
        self,
        turn: Turn,
        plan: StepPlan,
        outcome: str,
        detail: str | None,
        processor: str | None = None,
    ) -> str:
        """End the visit: the sealed entry leaves the state; a failure before the processor is
        journaled with its reason."""
        state = turn.state
        state.payment = None
        state.variables["payment_outcome"] = outcome
        if processor is None:
            name = self.settings.processor.name
            data = {"operation": "payment.charge", "processor": name, "detail": detail}
            turn.record(RecordKind.OPERATION, step=plan.step_id, outcome=outcome, data=data)
            processor = name
        metrics.PAYMENTS.labels(processor, outcome).inc()
        return outcome


def _description(state: CallState, step: PaymentStep) -> str:
    """The charge's description: an agent's for their secure session, else the flow's."""
    session = state.secure or {}
    if session.get("status") == "active" and session.get("description"):
        return str(session["description"])
    return step.payment.description or ""


def flow_postcode(plan: StepPlan) -> bool:
    step = plan.model
    return isinstance(step, PaymentStep) and step.payment.postcode_prompt is not None


def _is_currency(text: str) -> bool:
    return len(text) == 3 and text.isalpha() and text.isupper()


def _value(
    written: str | int | float,
    scope: dict[str, Any],
    literal_if: Callable[[str], bool] | None = None,
) -> Any:
    """A literal as written, or the value of an expression under the call's scope."""
    if not isinstance(written, str) or (literal_if is not None and literal_if(written)):
        return written
    return parse_expression(written).evaluate(scope)
