"""What a flow's conditions can read: the call, the customer, settings, attempts, variables.

Read-only plain data built per routing decision; the expression language cannot reach
anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr.engine.state import CallState
from ivr.numbers import DEFAULT_REGION, to_e164


def usable_number(ani: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The calling number in E.164, or None (to_e164 caches: every scope asks again)."""
    return to_e164(ani, region)


def call_scope(state: CallState, settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "call": {
            "call_id": state.call_id,
            "ani": state.ani,
            "dnis": state.dnis,
            "ani_presented": usable_number(state.ani) is not None,
            "ani_trust": state.caller_id_trust,
            "service_line": state.service_line,
            "language": state.language,
        },
        "customer": {
            "id": state.customer_id,
            "name": state.customer_name,
            "identified": state.customer_id is not None,
            "verified": bool(state.factors_passed),
            "locked": state.locked,
        },
        "settings": settings,
        "attempts": state.attempts,
        "vars": state.variables,
        "idv": {"status": state.idv_status},
    }
