"""Agent-assisted payment ("secure session"): an agent who has the caller sends them into the
`secure_payment` flow and gets them back, in the same agent queue, with the result in the
hand-off; the agent never hears a digit.

The session is plain data in the call's state (`CallState.secure`): what the agent asked for
(amount, currency, their reference), the route the caller goes back to, its status and, once
over, the result: outcome, brand, last four and the processor's reference. Nothing in it is
secret; the card itself is taken by the flow's `payment` step as in any other call.

Status: `pending` (asked for; the caller is still with the agent) -> `active` (the caller is
in the flow) -> `paid`, `declined`, `cancelled`, `error` or `abandoned` (the caller hung up
before a result). `failed`: the gateway could not be told to bring the caller over.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from ivr.engine.events import CallEvent, HungUp, TransferResult
from ivr.engine.state import CallState
from ivr.engine.turn import Turn
from ivr.flow.model import PAYMENT_VARIABLES
from ivr.journal.records import RecordKind
from ivr.payments.metrics import SECURE_SESSIONS

SECURE_FLOW = "secure_payment"  # the flow a caller is sent into (flows/secure_payment.yaml)
PENDING, ACTIVE, FAILED, ABANDONED = "pending", "active", "failed", "abandoned"
OPEN = (PENDING, ACTIVE)
OUTCOMES = ("paid", "declined", "cancelled", "error")
# what the hand-off and the agent's view carry of the payment: never more than the last four
RESULT_FIELDS = ("payment_outcome", "card_brand", "card_last4", "payment_reference")


class Refused(Exception):
    """A secure session cannot be started for this call; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class SecureRequest:
    """What the agent asks for, checked: an amount in the currency's major unit as text."""

    amount: str
    currency: str
    route: str  # the route name the caller goes back to
    reference: str | None = None
    description: str | None = None


def is_open(state: CallState) -> bool:
    return state.secure is not None and state.secure.get("status") in OPEN


def is_active(state: CallState) -> bool:
    return state.secure is not None and state.secure.get("status") == ACTIVE


def with_agent(state: CallState) -> bool:
    """The call left the IVR for an agent route and its caller is still there."""
    return (
        state.ended_by == "route"
        and bool(state.route)
        and not state.gone
        and ((state.route or {}).get("kind") == "agent")
    )


def check_startable(state: CallState | None) -> None:
    """Raise Refused unless an agent may send this call into a secure session now."""
    if state is None:
        raise Refused(404, "no such call")
    if state.gone or state.ended_by == "hangup":
        raise Refused(409, "the call has ended")
    if is_open(state):
        raise Refused(409, "the call is already in a secure session")
    if not state.ended:
        raise Refused(409, "the call is still in the IVR, with no agent")
    if not with_agent(state):
        raise Refused(409, "the call was handed on elsewhere, not to an agent")


def request_session(turn: Turn, request: SecureRequest, now: float) -> dict[str, Any]:
    """Put a pending session on the call (checked by `check_startable`) and journal it."""
    state = turn.state
    session: dict[str, Any] = {
        "id": "ss_" + secrets.token_hex(12),
        "status": PENDING,
        "amount": request.amount,
        "currency": request.currency,
        "reference": request.reference,
        "description": request.description,
        "route": request.route,
        "requested_at": now,
        "started_at": None,
        "ended_at": None,
        "result": None,
    }
    state.secure = session
    _record(turn, "secure_session.request", "requested", session)
    SECURE_SESSIONS.labels("requested").inc()
    return session


def fail_session(turn: Turn, session_id: str, reason: str, now: float) -> bool:
    """The gateway could not be told: the pending session ends as `failed`."""
    session = turn.state.secure
    if session is None or session.get("id") != session_id or session.get("status") != PENDING:
        return False
    session.update(status=FAILED, ended_at=now, reason=reason)
    _record(turn, "secure_session.end", "ended", session, detail=reason)
    SECURE_SESSIONS.labels("push_failed").inc()
    return True


def starts_on(state: CallState, event: CallEvent) -> bool:
    """Whether this event of an ended call brings a pending session's caller over: any event
    the gateway waits an answer to (a status report's answer is never played)."""
    if not (state.ended and state.secure and state.secure.get("status") == PENDING):
        return False
    if isinstance(event, HungUp):
        return False
    return not (isinstance(event, TransferResult) and event.result.startswith("status:"))


def activate(turn: Turn, now: float) -> dict[str, Any]:
    """The caller comes over: the call is live again, with the session's values for the flow
    and no earlier payment's result left to be mistaken for this one's."""
    state = turn.state
    session = state.secure
    assert session is not None
    session.update(status=ACTIVE, started_at=now, left_flow=[state.flow_id, state.flow_version])
    for name in PAYMENT_VARIABLES:
        state.variables.pop(name, None)
    state.variables.update(
        secure_amount=session["amount"],
        secure_currency=session["currency"],
        secure_reference=session.get("reference") or "",
    )
    state.ended_by = None
    state.route = None
    state.stack = []
    _record(turn, "secure_session.start", "started", session)
    SECURE_SESSIONS.labels("started").inc()
    return session


def close(turn: Turn, now: float, hung_up: bool = False) -> dict[str, Any] | None:
    """End an open session with the flow's result (`abandoned` when the caller hung up
    before one, or before they came over); the result goes into the session for the agent."""
    state = turn.state
    session = state.secure
    if session is None or session.get("status") not in OPEN:
        return None
    if session["status"] == PENDING:  # the variables hold the IVR's own payment, if any
        outcome: Any = ABANDONED
        result: dict[str, Any] = dict.fromkeys(RESULT_FIELDS)
    else:
        outcome = state.variables.get("payment_outcome")
        if outcome not in OUTCOMES:
            outcome = ABANDONED if hung_up else "error"
        result = {name: state.variables.get(name) or None for name in RESULT_FIELDS}
    result["payment_outcome"] = outcome
    session.update(status=outcome, ended_at=now, result=result)
    _record(turn, "secure_session.end", "ended", session)
    SECURE_SESSIONS.labels(outcome).inc()
    return session


def handoff_fields(session: dict[str, Any]) -> dict[str, Any]:
    """What the agent's hand-off carries of a session that just ended."""
    result = session.get("result") or {}
    fields = {name: value for name, value in result.items() if value}
    fields["secure_session"] = session["id"]
    if session.get("reference"):
        fields["secure_reference"] = session["reference"]
    return fields


def view(call_id: str, session: dict[str, Any]) -> dict[str, Any]:
    """The session as the agent desktop sees it."""
    return {
        "call_id": call_id,
        "id": session["id"],
        "status": session["status"],
        "amount": session["amount"],
        "currency": session["currency"],
        "reference": session.get("reference"),
        "route": session["route"],
        "requested_at": session["requested_at"],
        "started_at": session.get("started_at"),
        "ended_at": session.get("ended_at"),
        "result": session.get("result"),
        "reason": session.get("reason"),
    }


def _record(
    turn: Turn, operation: str, outcome: str, session: dict[str, Any], detail: str | None = None
) -> None:
    """An `operation` record; its outcome says what happened to the session (`requested`,
    `started`, `ended`: never an error outcome, the payment step journals its own) and
    `status` where the session stands."""
    data = {
        "operation": operation,
        "status": session["status"],
        "secure_session": session["id"],
        "amount": session["amount"],
        "currency": session["currency"],
        "route": session["route"],
        "detail": detail,
    }
    result = session.get("result")
    if result:
        data.update({k: v for k, v in result.items() if k != "payment_outcome"})
    turn.record(RecordKind.OPERATION, outcome=outcome, data=data)
