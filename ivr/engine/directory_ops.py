"""The built-in operations, backed by a customer directory.

`lookup_by_ani` never verifies anyone: it only identifies. Withheld, anonymous and SIP/client
callers are not looked up at all, and a flow may require a minimum caller-ID attestation.
"""

from __future__ import annotations

from ivr.directory.port import CustomerDirectory, LookupStatus, VerifyStatus
from ivr.engine.events import CallerIdTrust
from ivr.engine.operations import Operation, OperationCall, OperationRegistry, OperationResult
from ivr.numbers import to_e164

_TRUST_ORDER = {
    CallerIdTrust.FULL: 3,
    CallerIdTrust.PARTIAL: 2,
    CallerIdTrust.GATEWAY: 1,
    CallerIdTrust.UNKNOWN: 0,
    CallerIdTrust.FAILED: -1,
}


def trust_at_least(actual: CallerIdTrust, required: str) -> bool:
    """Is the call's attestation at least `required` ('A', 'B' or 'C')?"""
    return _TRUST_ORDER[actual] >= _TRUST_ORDER[CallerIdTrust(required)]


def directory_operations(directory: CustomerDirectory) -> dict[str, Operation]:
    async def lookup_by_ani(call: OperationCall) -> OperationResult:
        number = to_e164(call.ani, call.region)
        if number is None:
            return OperationResult("not_found", detail="no usable calling number")
        required = call.params.get("min_trust")
        if required is not None and not trust_at_least(call.caller_id_trust, str(required)):
            return OperationResult("not_found", detail=f"attestation below {required}")
        result = await directory.lookup_by_phone(number)
        return OperationResult(result.status.value, customer=result.customer)

    async def lookup_by_account(call: OperationCall) -> OperationResult:
        result = await directory.lookup_by_account(call.digits or "")
        if result.status is LookupStatus.FOUND:
            return OperationResult("found", customer=result.customer)
        return OperationResult("not_found")

    async def verify_answer(call: OperationCall) -> OperationResult:
        if call.customer_id is None:
            return OperationResult("error", detail="no identified customer to verify")
        field = str(call.params["field"])
        positions = call.params.get("positions") or ()
        answer = call.digits or ""
        if positions:  # a partial answer: the digits at the positions the caller was asked
            status = await directory.verify_answer(call.customer_id, field, answer, positions)
        else:
            status = await directory.verify_answer(call.customer_id, field, answer)
        if status is VerifyStatus.VERIFIED:
            return OperationResult("verified", detail=field)
        return OperationResult(status.value, detail=field)

    return {
        "directory.lookup_by_ani": lookup_by_ani,
        "directory.lookup_by_account": lookup_by_account,
        "verify.answer": verify_answer,
    }


def registry_for(directory: CustomerDirectory) -> OperationRegistry:
    """The built-in operation specs, implemented against `directory`."""
    registry = OperationRegistry()
    for name, implementation in directory_operations(directory).items():
        registry.implement(name, implementation)
    return registry
