"""Why a caller was routed on by a fault rather than by the flow: one cause per journal record.

The dashboard's "faults that show" panel and the `ivr_fallbacks_total{cause}` metric read the
same records through `fault_cause`, so a cause named on the page is the cause counted for the
alert rules (monitoring/prometheus/ivr-alerts.yml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr.journal.records import RecordKind

ERROR_OUTCOMES = frozenset({"error", "timeout"})
LIMITED = "limited"  # an operation refused by a rate limit (ivr.limits): routed like an error
FAULT_OUTCOMES = ERROR_OUTCOMES | {"fallback", "rate_limited"}
"""The outcomes a record must have to show a fault (`fault_cause` is None for any other)."""

CAUSES: dict[str, str] = {
    "directory": "customer directory failing (lookup or verification error or timeout)",
    "operation": "another operation failing (error or timeout)",
    "deadline": "answer not ready within the webhook's deadline",
    "session_store": "call state store unavailable",
    "rate_limited": "caller rate limited",
    "flow_error": "flow or configuration error",
    "flow_version": "flow version unknown to this worker and to the shared store",
    "other": "other engine fallback",
}
"""Every cause, with the sentence the dashboard shows for it."""


def fault_cause(kind: str, outcome: str | None, data: Mapping[str, Any] | None) -> str | None:
    """The fault a record shows, or None when it shows none.

    An operation that failed (`error`/`timeout`) is a fault even when the flow routes it on
    (the demo flow sends a failed lookup to an agent); an engine fallback names its reason.
    """
    data = data or {}
    if kind == RecordKind.OPERATION and outcome == LIMITED:
        return "rate_limited"
    if kind == RecordKind.OPERATION and outcome in ERROR_OUTCOMES:
        operation = str(data.get("operation") or "")
        return "directory" if operation.startswith(("directory.", "verify.")) else "operation"
    if kind == RecordKind.STEP_OUTCOME and outcome == "fallback":
        return fallback_cause(str(data.get("reason") or ""))
    if kind == RecordKind.STEP_OUTCOME and outcome == "rate_limited":
        return "rate_limited"
    return None


def fallback_cause(reason: str) -> str:
    """The cause of an engine fallback, from the reason the engine journals."""
    text = reason.lower()
    if "flow version" in text:
        return "flow_version"
    if "deadline" in text:
        return "deadline"
    if "store" in text or "unknown call" in text:
        return "session_store"
    if "rate" in text and "limit" in text:
        return "rate_limited"
    if any(word in text for word in ("engine error", "unknown state", "no result", "budget")):
        return "flow_error"
    if "route" in text or "config" in text or "return." in text:
        return "flow_error"
    return "other"
