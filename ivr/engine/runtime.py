"""The engine: start a call, feed it events, get back the actions to perform.

Gateway-independent and free of network I/O of its own: operations (directory lookups,
verification) sit behind ports and run under a deadline. Every call ends in a route or a
hang-up; an error, a missed deadline or a runaway flow routes the caller to an agent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ivr.config import AppConfig, ConfigError
from ivr.directory.phone import normalise_phone
from ivr.engine.actions import (
    Action,
    CollectDigits,
    Hangup,
    Play,
    PromptRef,
    RouteKind,
    Transfer,
)
from ivr.engine.events import (
    CallerIdTrust,
    CallEvent,
    CallStarted,
    DigitsCollected,
    HungUp,
    NoInput,
    TransferResult,
)
from ivr.engine.handoff import build_handoff, consistent_status, status_when_unrouted
from ivr.engine.operations import ERROR_OUTCOME, OperationCall, OperationRegistry, OperationResult
from ivr.engine.state import CallState, Frame
from ivr.flow.compiler import CompiledFlow, StepPlan, choice_outcome
from ivr.flow.model import (
    AskStep,
    CallFlowStep,
    HangupStep,
    MenuStep,
    OperationStep,
    PlayStep,
    ReturnStep,
)
from ivr.flow.model import RouteStep as RouteStepModel
from ivr.flow.targets import TargetRef
from ivr.journal.records import JournalRecord, RecordKind, mask_number
from ivr.prompts.catalog import PromptCatalog
from ivr.tokens import TokenIssuer

_log = logging.getLogger(__name__)


class FlowSource(Protocol):
    """Compiled flows: the current version for new calls, any loaded version for running ones."""

    def current(self, flow_id: str) -> CompiledFlow: ...

    def version(self, flow_id: str, version: str) -> CompiledFlow: ...


@dataclass(frozen=True, slots=True)
class EngineSettings:
    operation_deadline_s: float = 2.0
    step_budget: int = 200  # steps entered per call before the caller is sent to an agent
    fallback_route: str = "agent"


@dataclass(slots=True)
class Turn:
    """The engine's answer to one event: what the gateway must do and what to journal."""

    state: CallState
    actions: list[Action] = field(default_factory=list)
    records: list[JournalRecord] = field(default_factory=list)


class _Leave(Exception):
    """Internal: the call must be routed to the fallback route now (budget, broken config)."""


class Engine:
    def __init__(
        self,
        flows: FlowSource,
        config: AppConfig,
        catalog: PromptCatalog,
        operations: OperationRegistry,
        tokens: TokenIssuer | None = None,
        settings: EngineSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.flows = flows
        self.config = config
        self.catalog = catalog
        self.operations = operations
        self.tokens = tokens
        self.settings = settings or EngineSettings()
        self.clock = clock

    # -- public API ---------------------------------------------------------------------------

    async def start_call(self, event: CallStarted, flow_id: str | None = None) -> Turn:
        """Start a call on its service line's flow (or on `flow_id`, for simulation)."""
        line = self.config.service_line_for(event.dnis)
        flow = self.flows.current(flow_id or line.flow)
        state = self.new_call_state(event, flow_id)
        turn = Turn(state)
        self._record(
            turn,
            RecordKind.CALL_STARTED,
            data={
                "service_line": line.name,
                "dnis": event.dnis,
                "ani_presented": _usable_number(event.ani) is not None,
                "ani": mask_number(_usable_number(event.ani)),
                "ani_trust": event.caller_id_trust.value,
                "language": line.language,
            },
        )
        await self._guarded(turn, self._settle_and_run(turn, flow))
        return turn

    def new_call_state(self, event: CallStarted, flow_id: str | None = None) -> CallState:
        """A new call's state on its service line's flow, before anything has run."""
        line = self.config.service_line_for(event.dnis)
        flow = self.flows.current(flow_id or line.flow)
        now = self.clock()
        return CallState(
            call_id=event.call_id,
            flow_id=flow.flow_id,
            flow_version=flow.version,
            service_line=line.name,
            language=line.language,
            ani=event.ani,
            dnis=event.dnis,
            caller_id_trust=event.caller_id_trust.value,
            state=flow.initial_state,
            started_at=now,
            step_started_at=now,
        )

    async def handle(self, state: CallState, event: CallEvent) -> Turn:
        """Apply one event to a call; an event for an ended call changes nothing."""
        turn = Turn(state)
        if state.ended:
            return turn
        if isinstance(event, HungUp):
            self._end_by_hangup(turn, by="caller")
            return turn
        if isinstance(event, TransferResult):
            return turn
        if isinstance(event, DigitsCollected | NoInput):
            await self._guarded(turn, self._on_input(turn, event))
        return turn

    # -- running steps ------------------------------------------------------------------------

    def _flow(self, state: CallState) -> CompiledFlow:
        return self.flows.version(state.flow_id, state.flow_version)

    async def _guarded(self, turn: Turn, work: Any) -> None:
        """Whatever goes wrong inside the engine, the caller is routed on, never left hanging."""
        try:
            await work
        except _Leave as reason:
            self._fallback(turn, str(reason))
        except Exception:
            _log.exception("engine error on call %s; routing to %s", turn.state.call_id, "agent")
            self._fallback(turn, "engine error")

    async def _settle_and_run(self, turn: Turn, flow: CompiledFlow) -> None:
        await self._advance(turn, flow, None)

    async def _advance(self, turn: Turn, flow: CompiledFlow, outcome: str | None) -> None:
        """Route `outcome` from the current state, then run steps until the caller must act."""
        state = turn.state
        while True:
            new_state, trace = flow.advance(
                state.state, outcome, self._scope(state), state.variables
            )
            self._journal_trace(turn, flow, trace, outcome)
            state.state = new_state
            entered = await self._enter(turn, flow)
            flow = self._flow(state)
            if isinstance(entered, _Settle):
                outcome = None  # a called flow's first step: run its eventless transitions
                continue
            if entered is None or state.ended:
                return
            outcome = entered

    async def _enter(self, turn: Turn, flow: CompiledFlow) -> str | _Settle | None:
        """Run the step just entered. Returns its outcome, or None when waiting or ended."""
        state = turn.state
        state.steps_taken += 1
        if state.steps_taken > self.settings.step_budget:
            raise _Leave("step budget exceeded")
        state.step_started_at = self.clock()
        if state.state in flow.terminals:
            return await self._leave_flow(turn, flow.terminals[state.state])
        plan = flow.plan_for_state(state.state)
        if plan is None:
            raise _Leave(f"unknown state {state.state}")
        self._record(turn, RecordKind.STEP_ENTERED, step=plan.step_id, attempt=1)
        step = plan.model
        if isinstance(step, PlayStep):
            turn.actions.append(Play(self._prompts(state, step.play)))
            self._step_outcome(turn, plan, "done")
            return "done"
        if isinstance(step, AskStep | MenuStep):
            state.attempts[plan.step_id] = 1
            turn.actions.append(self._collect(state, plan))
            return None
        if isinstance(step, CallFlowStep):
            return self._call_flow(turn, flow, step)
        if isinstance(step, RouteStepModel):
            self._say(turn, step.say)
            self._transfer(turn, step.route, step.handoff, token=None)
            return None
        if isinstance(step, HangupStep):
            self._say(turn, step.hangup.say)
            turn.actions.append(Hangup("flow"))
            self._end_by_hangup(turn, by="flow")
            return None
        if isinstance(step, ReturnStep):
            return await self._leave_flow(turn, TargetRef("return", step.return_))
        # an operation step
        operation_outcome = await self._operate(turn, plan, digits=None)
        self._step_outcome(turn, plan, operation_outcome)
        return operation_outcome

    async def _on_input(self, turn: Turn, event: DigitsCollected | NoInput) -> None:
        state = turn.state
        flow = self._flow(state)
        plan = flow.plan_for_state(state.state)
        if plan is None or plan.input is None:
            return  # not waiting for keys: a late or duplicate event changes nothing
        attempt = state.attempts.get(plan.step_id, 1)
        digits = event.digits if isinstance(event, DigitsCollected) else ""
        term_key = plan.input.term_key
        if term_key and digits.endswith(term_key):
            digits = digits[: -len(term_key)]
        outcome = await self._interpret(turn, plan, digits, attempt)
        if outcome is None:
            if attempt >= plan.max_attempts:
                outcome = "max_attempts"
            else:
                state.attempts[plan.step_id] = attempt + 1
                turn.actions.append(self._collect(state, plan))
                return
        self._step_outcome(turn, plan, outcome, attempt)
        await self._advance(turn, flow, outcome)

    async def _interpret(self, turn: Turn, plan: StepPlan, digits: str, attempt: int) -> str | None:
        """The outcome of the caller's input, or None for a failed attempt."""
        step = plan.model

        def note(kind: str) -> None:
            data = {"kind": kind, "length": len(digits)}
            self._record(turn, RecordKind.INPUT, step=plan.step_id, attempt=attempt, data=data)

        if not digits:
            note("no_input")
            return None
        if isinstance(step, MenuStep):
            if digits in step.menu.choices:
                note("choice")
                return choice_outcome(digits)
            note("invalid")
            return None
        assert isinstance(step, AskStep)
        ask = step.ask
        if ask.dont_have_key is not None and digits.startswith(ask.dont_have_key):
            note("dont_have")
            return "dont_have"
        if not digits.isdigit() or not ask.digits.min <= len(digits) <= ask.digits.max:
            note("invalid")
            return None
        note("digits")
        if step.uses is None:
            if not ask.secret:  # validation refuses this; a secret is never kept, whatever
                turn.state.variables[plan.step_id] = digits
            return "collected"
        outcome = await self._operate(turn, plan, digits)
        assert plan.operation is not None
        if outcome in plan.operation.retry_outcomes:
            return None
        return outcome

    async def _operate(self, turn: Turn, plan: StepPlan, digits: str | None) -> str:
        state = turn.state
        step = plan.model
        assert isinstance(step, AskStep | OperationStep)
        assert step.uses is not None
        name = step.uses
        params: dict[str, Any] = dict(step.with_)
        spec, implementation = self.operations.get(name)
        call = OperationCall(
            call_id=state.call_id,
            ani=state.ani,
            caller_id_trust=_trust(state.caller_id_trust),
            customer_id=state.customer_id,
            digits=digits,
            params=params,
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.operation_deadline_s):
                result = await implementation(call)
        except TimeoutError:
            result = OperationResult(ERROR_OUTCOME, detail="deadline")
        except Exception as error:  # the message may not be safe to journal: name the class
            result = OperationResult(ERROR_OUTCOME, detail=type(error).__name__)
        if result.outcome not in spec.outcomes | spec.retry_outcomes:
            result = OperationResult(ERROR_OUTCOME, detail=f"unexpected outcome from {name}")
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._record(
            turn,
            RecordKind.OPERATION,
            step=plan.step_id,
            outcome=result.outcome,
            duration_ms=round(elapsed_ms, 3),
            data={"operation": name, "detail": result.detail},
        )
        if result.outcome == "found" and result.customer is not None:
            state.customer_id = result.customer.customer_id
            state.customer_name = result.customer.name
            state.identified_by = plan.step_id
        elif result.outcome == "verified":
            state.factors_passed.append(str(params.get("field", plan.step_id)))
        elif result.outcome == "locked":
            state.locked = True
        return result.outcome

    def _call_flow(self, turn: Turn, flow: CompiledFlow, step: CallFlowStep) -> _Settle:
        state = turn.state
        callee = self.flows.current(step.call_flow)
        state.stack.append(Frame(flow.flow_id, flow.version, state.state))
        state.flow_id, state.flow_version = callee.flow_id, callee.version
        state.state = callee.initial_state
        return _SETTLE

    async def _leave_flow(self, turn: Turn, target: TargetRef) -> str | None:
        if target.kind == "result":
            self._finish_result(turn, target.name)
            return None
        if target.kind == "route":
            self._transfer(turn, target.name, ["idv_status"], token=None)
            return None
        if target.kind == "hangup":
            turn.actions.append(Hangup("flow"))
            self._end_by_hangup(turn, by="flow")
            return None
        state = turn.state
        if not state.stack:
            raise _Leave(f"return.{target.name} outside a called flow")
        frame = state.stack.pop()
        state.flow_id, state.flow_version, state.state = (
            frame.flow_id,
            frame.flow_version,
            frame.state,
        )
        caller = self._flow(state)
        plan = caller.plan_for_state(state.state)
        if plan is not None:
            self._step_outcome(turn, plan, target.name)
        return target.name

    # -- leaving the flow ---------------------------------------------------------------------

    def _finish_result(self, turn: Turn, status: str) -> None:
        state = turn.state
        result = self._flow(state).flow.results.get(status)  # type: ignore[call-overload]
        if result is None:
            raise _Leave(f"no result for {status}")
        status = consistent_status(state, status)
        state.idv_status = status
        self._record_status(turn)
        self._say(turn, result.say)
        token = None
        if result.token and self.tokens is not None and state.customer_id is not None:
            token = self.tokens.issue(state.call_id, state.customer_id, status)
        self._transfer(turn, result.route, list(result.handoff), token=token)

    def _transfer(
        self, turn: Turn, route_name: str, fields: Sequence[str], token: str | None
    ) -> None:
        state = turn.state
        line = self.config.service_line(state.service_line)
        try:
            resolved, route = self.config.resolve_route(route_name, line)
        except ConfigError as error:
            raise _Leave(str(error)) from error
        if state.idv_status is None:
            state.idv_status = status_when_unrouted(state)
            self._record_status(turn)
        handoff = build_handoff(state, fields, token)
        turn.actions.append(Transfer(route.kind, route.target, resolved, handoff))
        state.route = {"kind": route.kind.value, "name": resolved, "target": route.target}
        state.ended_by = "route"
        self._record(
            turn,
            RecordKind.ROUTED,
            outcome=route.kind.value,
            data={"route": resolved, "target": route.target},
        )
        self._record_end(turn)

    def _fallback(self, turn: Turn, reason: str) -> None:
        """Send the caller to an agent, whatever state the call is in."""
        state = turn.state
        if state.ended:
            return
        _log.warning("call %s routed to fallback: %s", state.call_id, reason)
        self._record(
            turn,
            RecordKind.STEP_OUTCOME,
            step=state.step,
            outcome="fallback",
            data={"reason": reason},
        )
        try:
            self._transfer(turn, self.settings.fallback_route, ["idv_status"], token=None)
        except _Leave:
            turn.actions.append(
                Transfer(RouteKind.AGENT, "agent", "fallback", build_handoff(state, [], None))
            )
            state.route = {"kind": "agent", "name": "fallback", "target": "agent"}
            state.ended_by = "route"
            self._record_end(turn)

    def _end_by_hangup(self, turn: Turn, by: str) -> None:
        state = turn.state
        if state.idv_status is None:
            state.idv_status = status_when_unrouted(state)
            self._record_status(turn)
        state.ended_by = "hangup"
        self._record(turn, RecordKind.HANGUP, step=state.step, data={"by": by})
        self._record_end(turn)

    # -- helpers ------------------------------------------------------------------------------

    def _collect(self, state: CallState, plan: StepPlan) -> CollectDigits:
        step = plan.model
        assert isinstance(step, AskStep | MenuStep)
        assert plan.input is not None
        spec = step.ask if isinstance(step, AskStep) else step.menu
        attempt = state.attempts.get(plan.step_id, 1)
        prompt_id = spec.prompt
        if attempt > 1 and spec.retry_prompts:
            prompt_id = spec.retry_prompts[min(attempt - 2, len(spec.retry_prompts) - 1)]
        if isinstance(step, AskStep):
            low, high = step.ask.digits.min, step.ask.digits.max
            dont_have = step.ask.dont_have_key
        else:
            low = high = 1
            dont_have = None
        return CollectDigits(
            prompts=self._prompts(state, [prompt_id]),
            min_digits=low,
            max_digits=high,
            term_key=plan.input.term_key,
            timeout_s=plan.input.timeout_s,
            inter_digit_timeout_s=plan.input.inter_digit_timeout_s,
            barge_in=plan.input.barge_in,
            dont_have_key=dont_have,
            step=plan.step_id,
            attempt=attempt,
        )

    def _prompts(self, state: CallState, prompt_ids: list[str]) -> tuple[PromptRef, ...]:
        values = {"customer_name": state.customer_name or ""}
        return tuple(self.catalog.resolve(pid, state.language, values) for pid in prompt_ids)

    def _say(self, turn: Turn, prompt_id: str | None) -> None:
        if prompt_id is not None:
            turn.actions.append(Play(self._prompts(turn.state, [prompt_id])))

    def _scope(self, state: CallState) -> dict[str, Any]:
        line = self.config.service_line(state.service_line)
        return {
            "call": {
                "call_id": state.call_id,
                "ani": state.ani,
                "dnis": state.dnis,
                "ani_presented": _usable_number(state.ani) is not None,
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
            "settings": line.settings,
            "attempts": state.attempts,
            "vars": state.variables,
            "idv": {"status": state.idv_status},
        }

    def _journal_trace(
        self,
        turn: Turn,
        flow: CompiledFlow,
        trace: list[tuple[str, str, str]],
        outcome: str | None,
    ) -> None:
        """Journal the steps the machine passed through without the caller (skip, decide, set)."""
        for how, source, _target in trace:
            plan = flow.plan_for_state(source)
            if plan is not None:
                outcome = "done" if how == "set" else how
                self._record(turn, RecordKind.STEP_OUTCOME, step=plan.step_id, outcome=outcome)

    def _step_outcome(
        self, turn: Turn, plan: StepPlan, outcome: str, attempt: int | None = None
    ) -> None:
        elapsed = (self.clock() - turn.state.step_started_at) * 1000
        self._record(
            turn,
            RecordKind.STEP_OUTCOME,
            step=plan.step_id,
            outcome=outcome,
            attempt=attempt,
            duration_ms=round(elapsed, 3),
        )

    def _record_status(self, turn: Turn) -> None:
        state = turn.state
        self._record(
            turn,
            RecordKind.IDV_STATUS,
            outcome=state.idv_status,
            data={"customer_id": state.customer_id, "factors_passed": list(state.factors_passed)},
        )

    def _record_end(self, turn: Turn) -> None:
        state = turn.state
        self._record(
            turn,
            RecordKind.CALL_ENDED,
            outcome=state.ended_by,
            duration_ms=round((self.clock() - state.started_at) * 1000, 3),
        )

    def _record(self, turn: Turn, kind: RecordKind, **fields: Any) -> None:
        state = turn.state
        turn.records.append(
            JournalRecord(
                call_id=state.call_id,
                seq=state.seq,
                at=self.clock(),
                kind=kind,
                flow_id=state.flow_id,
                flow_version=state.flow_version,
                service_line=state.service_line,
                **fields,
            )
        )
        state.seq += 1


@functools.lru_cache(maxsize=4096)
def _usable_number(ani: str | None) -> str | None:
    """The calling number in E.164, or None; cached because every scope asks again."""
    return normalise_phone(ani)


class _Settle:
    """Entering a called flow: run its first step's eventless transitions, with no outcome."""


_SETTLE = _Settle()


def _trust(value: str) -> CallerIdTrust:
    return CallerIdTrust(value)
