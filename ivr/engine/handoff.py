"""The ID&V status and the data handed to an agent or the next system.

The status a flow names is checked against what actually happened: nobody is handed over as
verified without an identified customer and a passed factor, whatever the flow says. ANI alone
never verifies anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ivr.engine.state import CallState
from ivr.flow.model import PAYMENT_VARIABLES

IDENTIFIED_AND_VERIFIED = "identified_and_verified"
IDENTIFIED_ONLY = "identified_only"
NOT_IDENTIFIED = "not_identified"


def consistent_status(state: CallState, declared: str) -> str:
    """The declared status, lowered to what the call proved."""
    identified = state.customer_id is not None
    if declared == IDENTIFIED_AND_VERIFIED and not (identified and state.factors_passed):
        return IDENTIFIED_ONLY if identified else NOT_IDENTIFIED
    if declared == IDENTIFIED_ONLY and not identified:
        return NOT_IDENTIFIED
    return declared


def status_when_unrouted(state: CallState) -> str:
    """A call that leaves without reaching a result: identified at most, never verified."""
    return IDENTIFIED_ONLY if state.customer_id is not None else NOT_IDENTIFIED


def build_handoff(state: CallState, fields: Sequence[str], token: str | None) -> dict[str, Any]:
    """The handoff always holds `idv_status`; customer fields only where the caller is known."""
    status = state.idv_status or status_when_unrouted(state)
    identified = status != NOT_IDENTIFIED and state.customer_id is not None
    values: dict[str, Any] = {
        "idv_status": status,
        "customer_id": state.customer_id if identified else None,
        "customer_name": state.customer_name if identified else None,
        "factors_passed": list(state.factors_passed) if identified else [],
        "locked": state.locked,
        "ani_trust": state.caller_id_trust,
        "service_line": state.service_line,
        "idv_token": token,
        "callback_id": state.variables.get("callback_id"),  # a callback the company placed
        "callback_queue": state.variables.get("callback_queue"),  # the queue it was booked in
        "reverse_idv": state.variables.get("reverse_idv"),  # "read_back": it proved itself
    }
    handoff: dict[str, Any] = {"idv_status": status}
    for name in fields:
        value = values.get(name)
        if value is not None and (name not in ("customer_id", "customer_name") or identified):
            handoff[name] = value
    if "payment" in fields:  # what a payment step left: never more than brand and last four
        for name in PAYMENT_VARIABLES:
            value = state.variables.get(name)
            if value:
                handoff[name] = value
    if state.locked:
        handoff["locked"] = True
    if token is not None:
        handoff["idv_token"] = token
    return handoff
