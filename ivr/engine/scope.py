"""What a flow's conditions can read: the call, the customer, settings, attempts, variables.

Read-only plain data built per routing decision; the expression language cannot reach
anything else.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ivr.directory.phone import normalise_phone
from ivr.engine.state import CallState


@functools.lru_cache(maxsize=4096)
def usable_number(ani: str | None) -> str | None:
    """The calling number in E.164, or None; cached because every scope asks again."""
    return normalise_phone(ani)


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
