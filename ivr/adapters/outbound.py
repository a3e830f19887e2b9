"""Calls the company placed (callbacks): the context an answered outbound call starts with.

The dialler puts it in the answer URL's query (Twilio, jambonz) or the `context` of a JSON
`call.started` event: which flow to run and which callback it is for, with the dialler's
keyed signature (checked by the callback flow's first operation, not here). Values are
checked for shape only, so nothing odd reaches the call state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ivr.adapters.base import BadRequest

CALLBACK = "ivr_callback"
SIGNATURE = "ivr_sig"
FLOW = "ivr_flow"
_SHAPES = {
    CALLBACK: re.compile(r"cb_[0-9a-f]{1,40}"),
    # key id ~ hex: only unreserved characters, so no client or gateway re-encodes the URL
    # (a signed URL must come back byte for byte)
    SIGNATURE: re.compile(r"[A-Za-z0-9_.-]{1,32}~[0-9a-f]{64}"),
    FLOW: re.compile(r"[a-z][a-z0-9_]{0,62}"),
}
_ANSWERED_BY = re.compile(r"[a-z_]{1,32}")


def outbound_context(
    values: Mapping[str, object], answered_by: str | None = None
) -> dict[str, str]:
    """The call's context, or {} for an ordinary inbound call (no callback named)."""
    if not values.get(CALLBACK):
        return {}
    for name, shape in _SHAPES.items():
        value = values.get(name)
        if name == FLOW and value is None:
            continue
        if not isinstance(value, str) or not shape.fullmatch(value):
            raise BadRequest(f"{name} is malformed")
    context = {
        "direction": "outbound",
        "flow": str(values.get(FLOW) or "callback"),
        "callback_id": str(values[CALLBACK]),
        "callback_sig": str(values[SIGNATURE]).replace("~", ":"),
    }
    if answered_by and _ANSWERED_BY.fullmatch(answered_by):
        context["answered_by"] = answered_by
    return context
