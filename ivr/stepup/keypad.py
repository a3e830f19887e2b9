"""`stepup.answer`: the caller answers an agent's step-up by keypad while still in the IVR.

The challenge is the newest pending one made for this call (else for the call's customer);
the code is checked by the engine's own `verify.otp`, under the same lockout and rate limits
as every other code, with the call's calling number.
"""

from __future__ import annotations

from dataclasses import replace

from ivr.engine.operations import (
    ERROR_OUTCOME,
    Operation,
    OperationCall,
    OperationRegistry,
    OperationResult,
)
from ivr.stepup.service import StepUpService

KEYPAD = "keypad"


def keypad_operation(service: StepUpService, registry: OperationRegistry) -> Operation:
    async def answer(call: OperationCall) -> OperationResult:
        step_up = await service.store.pending_for(call.call_id, call.customer_id, service.clock())
        if step_up is None or (call.customer_id not in (None, step_up.customer_id)):
            return OperationResult("no_challenge", detail="no step-up pending for this call")

        async def verify(customer_id: str, method: str, code: str, by: str) -> str:
            _, check = registry.get("verify.otp")
            asked = replace(call, customer_id=customer_id, digits=code, params={"method": method})
            return (await check(asked)).outcome

        result = await service.answer(step_up, call.digits or "", KEYPAD, verify)
        if result.outcome == "verified":
            factor = "totp" if step_up.method == "totp" else "sent_code"
            return OperationResult("verified", detail=step_up.id, factors=(factor,))
        if result.outcome == ERROR_OUTCOME:
            return OperationResult(ERROR_OUTCOME, detail=step_up.id)
        return OperationResult(result.outcome, detail=step_up.id)

    return answer
