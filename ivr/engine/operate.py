"""Running a step's operation: under a deadline, its result checked against its spec.

An exception or a missed deadline is the step's `error` outcome, never success; the journal
gets the exception's class name only (its text may hold caller data).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from ivr.engine.events import CallerIdTrust
from ivr.engine.handoff import IDENTIFIED_AND_VERIFIED, consistent_status
from ivr.engine.operations import (
    ERROR_OUTCOME,
    LIMITED_OUTCOME,
    OperationCall,
    OperationRegistry,
    OperationResult,
)
from ivr.engine.turn import Turn
from ivr.flow.machine import StepPlan
from ivr.flow.model import AskStep, OperationStep
from ivr.journal.records import RecordKind
from ivr.numbers import DEFAULT_REGION

T = TypeVar("T")


async def run_operation(
    turn: Turn,
    plan: StepPlan,
    digits: str | None,
    registry: OperationRegistry,
    deadline_s: float,
    region: str = DEFAULT_REGION,
    positions: Sequence[int] = (),
) -> str:
    """The operation's outcome; what it learnt (customer, factor, lock) goes on the call."""
    state = turn.state
    step = plan.model
    assert isinstance(step, AskStep | OperationStep)
    assert step.uses is not None
    name = step.uses
    params: dict[str, Any] = dict(step.with_)
    if positions:  # a partial answer: which digits the caller was asked for
        params["positions"] = list(positions)
    spec, implementation = registry.get(name)
    call = OperationCall(
        call_id=state.call_id,
        ani=state.ani,
        caller_id_trust=CallerIdTrust(state.caller_id_trust),
        customer_id=state.customer_id,
        digits=digits,
        params=params,
        region=region,
        customer_name=state.customer_name,
        variables=state.variables,
        idv_status=state.idv_status or consistent_status(state, IDENTIFIED_AND_VERIFIED),
        service_line=state.service_line,
    )
    started = time.perf_counter()
    try:
        result = await within(deadline_s, implementation(call))
    except TimeoutError:
        result = OperationResult(ERROR_OUTCOME, detail="deadline")
    except Exception as error:  # the message may not be safe to journal: name the class
        result = OperationResult(ERROR_OUTCOME, detail=type(error).__name__)
    routed = ERROR_OUTCOME if result.outcome == LIMITED_OUTCOME else result.outcome
    if routed not in spec.outcomes and routed not in spec.retry_outcomes:
        result = OperationResult(ERROR_OUTCOME, detail=f"unexpected outcome from {name}")
        routed = ERROR_OUTCOME
    turn.record(
        RecordKind.OPERATION,
        step=plan.step_id,
        outcome=result.outcome,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        data={"operation": name, "detail": result.detail},
    )
    if result.outcome not in (ERROR_OUTCOME, *spec.retry_outcomes):
        state.variables.update(result.values)
        state.factors_passed.extend(f for f in result.factors if f not in state.factors_passed)
    if result.customer is not None and result.outcome in ("found", "verified", "identified"):
        state.customer_id = result.customer.customer_id
        state.customer_name = result.customer.name
        state.identified_by = plan.step_id
        state.locked = result.customer.locked  # known now, whatever the caller does next
    elif result.outcome == "verified" and not result.factors:
        state.factors_passed.append(str(params.get("field", plan.step_id)))
    elif result.outcome == "locked":
        state.locked = True
    return routed


async def within(deadline_s: float, work: Awaitable[T]) -> T:
    """`work`'s result, or TimeoutError once `deadline_s` has passed (asyncio.timeout)."""
    async with asyncio.timeout(deadline_s):
        return await work
