"""Running a step's operation: under a deadline, its result checked against its spec.

An exception or a missed deadline is the step's `error` outcome, never success; the journal
gets the exception's class name only (its text may hold caller data).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from ivr.engine.events import CallerIdTrust
from ivr.engine.handoff import IDENTIFIED_AND_VERIFIED, consistent_status
from ivr.engine.language import pick_language
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
_log = logging.getLogger(__name__)


async def run_operation(
    turn: Turn,
    plan: StepPlan,
    digits: str | None,
    registry: OperationRegistry,
    deadline_s: float,
    region: str = DEFAULT_REGION,
    positions: Sequence[int] = (),
    languages: Sequence[str] = (),
) -> str:
    """The operation's outcome; what it learnt (customer, factor, lock, route names, the
    language to speak) goes on the call. `languages`: those the flow has prompts in."""
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
        language=state.language,
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
    data: dict[str, Any] = {"operation": name, "detail": result.detail}
    taken = result.outcome not in (ERROR_OUTCOME, *spec.retry_outcomes)
    if taken and result.language is not None:
        data.update(switch_language(turn, result.language, languages))
    turn.record(
        RecordKind.OPERATION,
        step=plan.step_id,
        outcome=result.outcome,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        data=data,
    )
    if taken:
        state.variables.update(result.values)
        state.factors_passed.extend(f for f in result.factors if f not in state.factors_passed)
        # only the names the spec declares: the flow checks were made against those
        state.routes.update({k: v for k, v in result.routes.items() if k in spec.routes})
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


def switch_language(turn: Turn, asked: str, languages: Sequence[str]) -> dict[str, str]:
    """Speak `asked` from now on when the flow has prompts in it; else keep the call's language
    and say so in the log and the journal (what the journal record gets)."""
    state = turn.state
    chosen = pick_language(asked, languages)
    if chosen is None:
        _log.warning(
            "call %s: language %r asked for, but flow %s has no prompts in it (it has %s);"
            " speaking %s",
            state.call_id, asked, state.flow_id, ", ".join(languages) or "none", state.language,
        )  # fmt: skip
        return {"language_asked": asked, "language": state.language, "language_fallback": "yes"}
    state.language = chosen
    return {"language_asked": asked, "language": chosen}


async def within(deadline_s: float, work: Awaitable[T]) -> T:
    """`work`'s result, or TimeoutError once `deadline_s` has passed (asyncio.timeout)."""
    async with asyncio.timeout(deadline_s):
        return await work
