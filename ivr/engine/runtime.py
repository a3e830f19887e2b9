"""The engine: start a call, feed it events, get back the actions to perform.

Gateway-independent and free of network I/O of its own: operations (directory lookups,
verification) sit behind ports and run under a deadline. Every call ends in a route or a
hang-up; an error, a missed deadline or a runaway flow routes the caller to an agent.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.config import AppConfig, ConfigError
from ivr.engine import secure_session
from ivr.engine.actions import CollectDigits, Hangup, Play, PromptRef, RouteKind, Transfer
from ivr.engine.events import (
    CallEvent,
    CallStarted,
    DigitsCollected,
    HungUp,
    NoInput,
    PaymentResult,
    TransferResult,
)
from ivr.engine.handoff import build_handoff, consistent_status, status_when_unrouted
from ivr.engine.keys import (
    RetryEvent,
    classify,
    collect_action,
    retry_prompt_ids,
    without_terminator,
)
from ivr.engine.language import pick_language
from ivr.engine.operate import run_operation
from ivr.engine.operations import OperationRegistry
from ivr.engine.payment_step import PaymentRunner
from ivr.engine.scope import call_scope, usable_number
from ivr.engine.state import CallState, Frame
from ivr.engine.turn import Turn as Turn  # re-exported: callers take turns from here
from ivr.fields import FieldSpec, position_words
from ivr.flow.machine import CompiledFlow, StepPlan
from ivr.flow.model import (
    RETRY_EVENTS,
    AskStep,
    CallFlowStep,
    HangupStep,
    MenuStep,
    PaymentStep,
    PlayStep,
    ReturnStep,
    RouteStep,
)
from ivr.flow.targets import TargetRef
from ivr.journal.records import RecordKind, mask_number
from ivr.prompts.catalog import PromptCatalog
from ivr.tokens import TokenIssuer

_log = logging.getLogger(__name__)
_RANDOM = random.SystemRandom()  # positions of a partial answer: not guessable from the last call


class FlowSource(Protocol):
    """Compiled flows: the current version for new calls, any loaded version for running ones."""

    def current(self, flow_id: str) -> CompiledFlow: ...

    def version(self, flow_id: str, version: str) -> CompiledFlow: ...


@dataclass(frozen=True, slots=True)
class EngineSettings:
    operation_deadline_s: float = 2.0
    step_budget: int = 200  # steps entered per call before the caller is sent to an agent
    fallback_route: str = "agent"


class _Leave(Exception):
    """Internal: the call must be routed to the fallback route now (budget, broken config)."""


class _Settle:
    """Entering a called flow: run its first step's eventless transitions, with no outcome."""


_SETTLE = _Settle()


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
        payments: PaymentRunner | None = None,
    ) -> None:
        self.flows = flows
        self.payments = payments
        self.config = config
        self.catalog = catalog
        self.operations = operations
        self.tokens = tokens
        self.settings = settings or EngineSettings()
        self.clock = clock
        # prompts without placeholders, resolved once per catalogue: (prompt id, language) -> ref
        self._resolved_from: PromptCatalog | None = None
        self._resolved: dict[tuple[str, str], PromptRef] = {}

    # -- public API ---------------------------------------------------------------------------

    async def start_call(self, event: CallStarted, flow_id: str | None = None) -> Turn:
        """Start a call on its service line's flow (or on `flow_id`, for simulation)."""
        line = self.config.service_line_for(event.dnis)
        region = self.config.region(line)
        state = self.new_call_state(event, flow_id or event.context.get("flow"))
        state.variables.update(event.context)  # an outbound call's own context (flow ops read it)
        turn = Turn(state, clock=self.clock)
        turn.record(
            RecordKind.CALL_STARTED,
            data={
                "service_line": line.name,
                "dnis": mask_number(event.dnis),  # as stored: the live view shows the same
                "ani_presented": usable_number(event.ani, region) is not None,
                "ani": mask_number(usable_number(event.ani, region)),
                "ani_trust": event.caller_id_trust.value,
                "language": line.language,
            },
        )
        await self._guarded(turn, self._advance(turn, self._flow(state), None))
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
        turn = Turn(state, clock=self.clock)
        if state.ended:
            if isinstance(event, HungUp):
                self._left(turn)
            elif secure_session.starts_on(state, event):
                await self._guarded(turn, self._begin_secure(turn))
            return turn
        if isinstance(event, TransferResult):
            return turn
        if isinstance(event, HungUp):
            self._end_by_hangup(turn, by="caller")
        elif isinstance(event, DigitsCollected | NoInput):
            await self._guarded(turn, self._on_input(turn, event))
        elif isinstance(event, PaymentResult):
            await self._guarded(turn, self._on_payment_result(turn, event))
        return turn

    @staticmethod
    def wants_after_end(state: CallState, event: CallEvent) -> bool:
        """Whether an event of an ended call changes it: the hang-up of a caller who is with an
        agent (no secure session can reach them after), or the event that brings the caller
        of a pending secure session over."""
        if isinstance(event, HungUp):
            return secure_session.with_agent(state)
        return secure_session.starts_on(state, event)

    def route_to_agent(self, state: CallState, reason: str) -> Turn:
        """End the call now with the fallback route (e.g. an event overran the webhook's
        budget); synchronous, so it cannot itself overrun."""
        turn = Turn(state, clock=self.clock)
        if state.ended and state.secure and state.secure.get("status") == secure_session.PENDING:
            secure_session.activate(turn, self.clock())  # back to the agent, the result an error
        if state.seq == 0:  # the first event's records were lost with it: the call still began
            turn.record(RecordKind.CALL_STARTED, data={"service_line": state.service_line})
        self._fallback(turn, reason)
        return turn

    # -- agent-assisted payment (ivr.engine.secure_session) -----------------------------------

    async def _begin_secure(self, turn: Turn) -> None:
        """The caller of a pending secure session comes over: run the `secure_payment` flow;
        wherever it routes, the caller goes back to the session's route (`_transfer`)."""
        state = turn.state
        secure_session.activate(turn, self.clock())
        flow = self.flows.current(secure_session.SECURE_FLOW)
        state.flow_id, state.flow_version = flow.flow_id, flow.version
        state.state = flow.initial_state
        state.steps_taken = 0  # the session's own step budget
        # spoken in the call's language if the payment flow has it, else in its first one
        languages = flow.flow.flow.languages
        state.language = pick_language(state.language, languages) or languages[0]
        # deliveries answered before the session: where a delivery's key is a signature over
        # the same URL and fields (Twilio), the same keys in a second session would otherwise
        # be taken for redeliveries and get the first session's answers back
        state.answers.clear()
        await self._advance(turn, flow, None)

    def _left(self, turn: Turn) -> None:
        """The caller hung up after leaving the IVR for an agent: a pending session is over."""
        state = turn.state
        state.gone = True
        secure_session.close(turn, self.clock(), hung_up=True)

    # -- running steps ------------------------------------------------------------------------

    def _flow(self, state: CallState) -> CompiledFlow:
        return self.flows.version(state.flow_id, state.flow_version)

    async def _guarded(self, turn: Turn, work: Coroutine[Any, Any, None]) -> None:
        """Whatever goes wrong inside the engine, the caller is routed on, never left hanging."""
        try:
            await work
        except _Leave as reason:
            self._fallback(turn, str(reason))
        except Exception:
            _log.exception("engine error on call %s; routing to an agent", turn.state.call_id)
            self._fallback(turn, "engine error")

    async def _advance(self, turn: Turn, flow: CompiledFlow, outcome: str | None) -> None:
        """Route `outcome` from the current state, then run steps until the caller must act."""
        state = turn.state
        while True:
            new_state = flow.plain_hop(state.state, outcome)
            state.state = self._route(turn, flow, outcome) if new_state is None else new_state
            entered = await self._enter(turn, flow)
            flow = self._flow(state)
            if isinstance(entered, _Settle):
                outcome = None  # a called flow's first step: run its eventless transitions
                continue
            if entered is None or state.ended:
                return
            outcome = entered

    def _route(self, turn: Turn, flow: CompiledFlow, outcome: str | None) -> str:
        """Route through guards and actions with the call's scope; journal the steps passed."""
        state = turn.state
        settings = self.config.service_line(state.service_line).settings
        new_state, trace = flow.advance(
            state.state, outcome, call_scope(state, settings), state.variables
        )
        for how, source, _target in trace:  # steps passed without the caller
            passed = flow.plan_for_state(source)
            if passed is not None:
                label = "done" if how == "set" else how
                turn.record(RecordKind.STEP_OUTCOME, step=passed.step_id, outcome=label)
        return new_state

    async def _enter(self, turn: Turn, flow: CompiledFlow) -> str | _Settle | None:
        """Run the step just entered. Returns its outcome, or None when waiting or ended."""
        state = turn.state
        state.steps_taken += 1
        if state.steps_taken > self.settings.step_budget:
            raise _Leave("step budget exceeded")
        state.step_started_at = self.clock()
        if state.state in flow.terminals:
            return self._leave_flow(turn, flow.terminals[state.state])
        plan = flow.plan_for_state(state.state)
        if plan is None:
            raise _Leave(f"unknown state {state.state}")
        turn.record(RecordKind.STEP_ENTERED, step=plan.step_id, attempt=1)
        step = plan.model
        if isinstance(step, PlayStep):
            turn.actions.append(Play(self._prompts(state, step.play)))
            turn.step_outcome(plan.step_id, "done")
            return "done"
        if isinstance(step, AskStep | MenuStep):
            state.attempts[plan.step_id] = 1
            for event in RETRY_EVENTS:  # VoiceXML: the counters reset on each visit
                state.retries.pop(f"{plan.step_id}:{event}", None)
            state.positions.pop(plan.step_id, None)
            spec = self._partial_field(plan)
            if spec is not None:  # asked at random per call, kept for the retries
                chosen = _RANDOM.sample(range(1, spec.digits.max + 1), spec.ask or 1)
                state.positions[plan.step_id] = sorted(chosen)
            turn.actions.append(self._collect(state, plan, attempt=1))
            return None
        if isinstance(step, PaymentStep):
            if self.payments is None:
                raise _Leave("no payment processor configured")
            state.attempts[plan.step_id] = 1
            prompts = self._prompt_source(state)
            line = self.config.service_line(state.service_line)
            if line.payments.mode == "twilio_pay":  # the gateway takes the card itself
                handed = self.payments.enter_gateway(
                    turn, plan, prompts, line.payments.connector, line.settings
                )
                if isinstance(handed, str):
                    turn.step_outcome(plan.step_id, handed)
                    return handed
                turn.actions.append(handed)
                return None
            turn.actions.append(self.payments.enter(turn, plan, flow.flow, prompts))
            return None
        if isinstance(step, CallFlowStep):
            return self._call_flow(turn, flow, step)
        if isinstance(step, RouteStep):
            self._say(turn, step.say)
            self._transfer(turn, step.route, step.handoff, token=None)
            return None
        if isinstance(step, HangupStep):
            self._say(turn, step.hangup.say)
            self._hang_up(turn)
            return None
        if isinstance(step, ReturnStep):
            return self._leave_flow(turn, TargetRef("return", step.return_))
        outcome = await self._operate(turn, plan, digits=None)  # an operation step
        turn.step_outcome(plan.step_id, outcome)
        return outcome

    async def _on_input(self, turn: Turn, event: DigitsCollected | NoInput) -> None:
        state = turn.state
        flow = self._flow(state)
        plan = flow.plan_for_state(state.state)
        if plan is None or plan.input is None:
            return  # not waiting for keys: a late or duplicate event changes nothing
        if isinstance(plan.model, PaymentStep):
            await self._on_payment_keys(turn, flow, plan, event)
            return
        attempt = state.attempts.get(plan.step_id, 1)
        keys = event.digits if isinstance(event, DigitsCollected) else ""
        outcome, failure = await self._interpret(
            turn, plan, without_terminator(plan, keys), attempt
        )
        if outcome is None:
            counter = f"{plan.step_id}:{failure}"
            state.retries[counter] = state.retries.get(counter, 0) + 1
            if attempt < plan.max_attempts:
                state.attempts[plan.step_id] = attempt + 1
                turn.actions.append(self._collect(state, plan, attempt + 1, failure))
                return
            outcome = "max_attempts"
        turn.step_outcome(plan.step_id, outcome, attempt)
        await self._advance(turn, flow, outcome)

    async def _on_payment_keys(
        self, turn: Turn, flow: CompiledFlow, plan: StepPlan, event: DigitsCollected | NoInput
    ) -> None:
        if self.payments is None:
            raise _Leave("no payment processor configured")
        state = turn.state
        keys = (
            without_terminator(plan, event.digits) if isinstance(event, DigitsCollected) else None
        )
        settings = self.config.service_line(state.service_line).settings
        prompts = self._prompt_source(state)
        outcome = await self.payments.on_keys(turn, plan, flow.flow, prompts, keys, settings)
        if outcome is None:
            return
        turn.step_outcome(plan.step_id, outcome)
        await self._advance(turn, flow, outcome)

    async def _on_payment_result(self, turn: Turn, event: PaymentResult) -> None:
        """The gateway took the card (Twilio <Pay>): route the outcome it reports."""
        flow = self._flow(turn.state)
        plan = flow.plan_for_state(turn.state.state)
        if plan is None or not isinstance(plan.model, PaymentStep) or self.payments is None:
            return  # not waiting for a payment: a late or duplicate callback changes nothing
        outcome = self.payments.on_gateway_result(turn, plan, event)
        if outcome is None:
            return
        turn.step_outcome(plan.step_id, outcome)
        await self._advance(turn, flow, outcome)

    def _prompt_source(self, state: CallState) -> Callable[[Sequence[str]], tuple[PromptRef, ...]]:
        return lambda ids: self._prompts(state, ids)

    async def _interpret(
        self, turn: Turn, plan: StepPlan, digits: str, attempt: int
    ) -> tuple[str | None, RetryEvent]:
        """The outcome of the caller's keys, or None and the kind of failed try."""
        kind, outcome = classify(plan, digits)
        data = {"kind": kind, "length": len(digits)}  # never the keys themselves
        turn.record(RecordKind.INPUT, step=plan.step_id, attempt=attempt, data=data)
        if kind != "digits":
            return outcome, "no_input" if kind == "no_input" else "invalid"
        step = plan.model
        assert isinstance(step, AskStep)
        if step.uses is None:
            if not step.ask.secret:  # validation refuses this; a secret is never kept, whatever
                turn.state.variables[plan.step_id] = digits
            return "collected", "wrong"
        result = await self._operate(turn, plan, digits)
        assert plan.operation is not None
        return (None if result in plan.operation.retry_outcomes else result), "wrong"

    async def _operate(self, turn: Turn, plan: StepPlan, digits: str | None) -> str:
        deadline = self.settings.operation_deadline_s
        state = turn.state
        region = self.config.region(self.config.service_line(state.service_line))
        positions = state.positions.get(plan.step_id, ())
        languages = self._languages(state)
        return await run_operation(
            turn, plan, digits, self.operations, deadline, region, positions, languages
        )

    def _languages(self, state: CallState) -> list[str]:
        """The languages this call's flow can be spoken in: its own, where prompts exist."""
        have = self.catalog.entries
        return [language for language in self._flow(state).flow.flow.languages if language in have]

    def _partial_field(self, plan: StepPlan) -> FieldSpec | None:
        """The directory field a step asks in part ("the 2nd and 5th digits"), if any."""
        step = plan.model
        if not isinstance(step, AskStep) or step.uses is None:
            return None
        spec = self.config.fields.get(str(step.with_.get("field", "")))
        return spec if spec is not None and spec.kind == "partial" else None

    def _call_flow(self, turn: Turn, flow: CompiledFlow, step: CallFlowStep) -> _Settle:
        state = turn.state
        callee = self.flows.current(step.call_flow)
        state.stack.append(Frame(flow.flow_id, flow.version, state.state))
        state.flow_id, state.flow_version = callee.flow_id, callee.version
        state.state = callee.initial_state
        return _SETTLE

    def _leave_flow(self, turn: Turn, target: TargetRef) -> str | None:
        if target.kind == "result":
            self._finish_result(turn, target.name)
            return None
        if target.kind == "route":
            self._transfer(turn, target.name, ["idv_status"], token=None)
            return None
        if target.kind == "hangup":
            self._hang_up(turn)
            return None
        state = turn.state  # a return: back to the step that called this flow
        if not state.stack:
            raise _Leave(f"return.{target.name} outside a called flow")
        frame = state.stack.pop()
        state.flow_id, state.flow_version, state.state = (
            frame.flow_id,
            frame.flow_version,
            frame.state,
        )
        plan = self._flow(state).plan_for_state(state.state)
        if plan is not None:
            turn.step_outcome(plan.step_id, target.name)
        return target.name

    # -- leaving the flow ---------------------------------------------------------------------

    def _finish_result(self, turn: Turn, status: str) -> None:
        state = turn.state
        result = self._flow(state).flow.results.get(status)  # type: ignore[call-overload]
        if result is None:
            raise _Leave(f"no result for {status}")
        state.idv_status = consistent_status(state, status)
        turn.status()
        self._say(turn, result.say)
        token = None
        if result.token and self.tokens is not None and state.customer_id is not None:
            token = self.tokens.issue(state.call_id, state.customer_id, state.idv_status)
        self._transfer(turn, result.route, list(result.handoff), token=token)

    def _transfer(
        self, turn: Turn, route_name: str, fields: Sequence[str], token: str | None
    ) -> None:
        state = turn.state
        line = self.config.service_line(state.service_line)
        session = state.secure if secure_session.is_active(state) else None
        # a secure session's caller goes back to its agent route, whatever the flow names;
        # otherwise a name may be set for this call (callback_queue)
        routes = {route_name: session["route"]} if session is not None else state.routes
        name = routes.get(route_name, route_name)
        try:
            resolved, route = self.config.resolve_route(name, line)
        except ConfigError as error:
            raise _Leave(str(error)) from error
        self._settle_status(turn)
        handoff = build_handoff(state, fields, token)
        if session is not None:
            closed = secure_session.close(turn, self.clock())
            if closed is not None:
                handoff.update(secure_session.handoff_fields(closed))
        turn.actions.append(Transfer(route.kind, route.target, resolved, handoff))
        state.route = {"kind": route.kind.value, "name": resolved, "target": route.target}
        state.ended_by = "route"
        data = {"route": resolved, "target": route.target}
        turn.record(RecordKind.ROUTED, outcome=route.kind.value, data=data)
        turn.ended()

    def _fallback(self, turn: Turn, reason: str) -> None:
        """Send the caller to an agent, whatever state the call is in."""
        state = turn.state
        if state.ended:
            return
        _log.warning("call %s routed to fallback: %s", state.call_id, reason)
        data = {"reason": reason}
        turn.record(RecordKind.STEP_OUTCOME, step=state.step, outcome="fallback", data=data)
        try:
            self._transfer(turn, self.settings.fallback_route, ["idv_status"], token=None)
        except _Leave:  # not even the fallback route resolves: a bare agent transfer
            self._settle_status(turn)
            handoff = build_handoff(state, [], None)
            closed = secure_session.close(turn, self.clock())
            if closed is not None:
                handoff.update(secure_session.handoff_fields(closed))
            turn.actions.append(Transfer(RouteKind.AGENT, "agent", "fallback", handoff))
            state.route = {"kind": "agent", "name": "fallback", "target": "agent"}
            state.ended_by = "route"
            turn.ended()

    def _hang_up(self, turn: Turn) -> None:
        turn.actions.append(Hangup("flow"))
        self._end_by_hangup(turn, by="flow")

    def _end_by_hangup(self, turn: Turn, by: str) -> None:
        self._settle_status(turn)
        secure_session.close(turn, self.clock(), hung_up=True)
        turn.state.ended_by = "hangup"
        turn.record(RecordKind.HANGUP, step=turn.state.step, data={"by": by})
        turn.ended()

    def _settle_status(self, turn: Turn) -> None:
        """A call leaving without a result is identified at most, never verified."""
        if turn.state.idv_status is None:
            turn.state.idv_status = status_when_unrouted(turn.state)
            turn.status()

    # -- prompts ------------------------------------------------------------------------------

    def _collect(
        self, state: CallState, plan: StepPlan, attempt: int, failure: str | None = None
    ) -> CollectDigits:
        step = plan.model
        assert isinstance(step, AskStep | MenuStep)
        count = state.retries.get(f"{plan.step_id}:{failure}", 0)
        ids = retry_prompt_ids(self._flow(state).flow, step, attempt, failure, count)
        positions = state.positions.get(plan.step_id, ())
        return collect_action(plan, attempt, lambda i: self._prompts(state, i), ids, positions)

    def _prompts(self, state: CallState, prompt_ids: Sequence[str]) -> tuple[PromptRef, ...]:
        catalog = self.catalog
        if catalog is not self._resolved_from:  # a reload replaced the catalogue
            self._resolved_from, self._resolved = catalog, {}
        language = state.language
        refs = []
        for pid in prompt_ids:
            ref = self._resolved.get((pid, language))
            if ref is None:
                ref = self._resolve(catalog, state, pid)
            refs.append(ref)
        return tuple(refs)

    def _resolve(self, catalog: PromptCatalog, state: CallState, prompt_id: str) -> PromptRef:
        """The prompt for this call; one without placeholders is the same for every call, so
        it is resolved once per catalogue and language (PromptRef is immutable)."""
        values = {k: v for k, v in state.variables.items() if isinstance(v, str)}
        values["customer_name"] = state.customer_name or ""
        asked = state.positions.get(state.step or "")
        if asked:
            values["positions"] = position_words(asked)
        ref = catalog.resolve(prompt_id, state.language, values)
        if not catalog.get(prompt_id, state.language).placeholders:
            self._resolved[(prompt_id, state.language)] = ref
        return ref

    def _say(self, turn: Turn, prompt_id: str | None) -> None:
        if prompt_id is not None:
            turn.actions.append(Play(self._prompts(turn.state, [prompt_id])))
