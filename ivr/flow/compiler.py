"""Compile a validated flow into a python-statemachine StateChart and a per-step plan.

One class per flow version, one shared machine instance per worker: a call's state is plain
data that is swapped onto the machine's model for the few microseconds an outcome is routed,
so memory per active call does not grow with the size of the flow.

States are the flow's steps (`s_<step>`) and the places a call leaves the flow (`t_...`:
results, routes, returns, hang-up). Events are step outcomes (`o_<outcome>`). `skip_if`,
`decide` and `set` compile to eventless transitions with Python guards and actions, taken
within the same macrostep. A `skip_if` sits in an entry state (`e_<step>`) in front of its
step: the library re-checks a state's eventless transitions before taking an event, and a
step's condition must be checked on entry only, not again when its outcome arrives (an
operation may have changed what the condition reads).

From the same definition the compiler reads two tables the runtime routes with instead of
the library (`CompiledFlow.advance`): outcome hops, and each state's eventless transitions
in document order with the same guard and action callables.

Terminal states are not `final`: a final state stops the shared instance for every call.
They loop on an event that is never sent instead, and this module checks itself that every
step can reach one (the library's check only runs when final states exist).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from statemachine.exceptions import InvalidDefinition
from statemachine.io import create_machine_class_from_definition

from ivr.flow.expressions import Expression, parse_expression
from ivr.flow.machine import (
    NEVER_SENT,
    Hop,
    MachineModel,
    StepPlan,
    entry_state_id,
    state_id,
    terminal_state_id,
)
from ivr.flow.machine import CompiledFlow as CompiledFlow
from ivr.flow.machine import CompileError as CompileError
from ivr.flow.machine import choice_outcome as choice_outcome
from ivr.flow.machine import outcome_event as outcome_event
from ivr.flow.model import (
    PAYMENT_OUTCOMES,
    AnyStep,
    AskStep,
    CallFlowStep,
    DecideStep,
    EffectiveInput,
    FlowFile,
    HangupStep,
    MenuStep,
    OperationStep,
    PaymentStep,
    PlayStep,
    ReturnStep,
    RouteStep,
    SetStep,
)
from ivr.flow.operations import BUILTIN_SPECS, ERROR_OUTCOME, OperationSpec
from ivr.flow.targets import TargetRef, resolve_target, step_positions


def _guard(
    expression: Expression, how: str, source: str, target: str
) -> Callable[[MachineModel], bool]:
    """A guard that also notes the hop in the model's trace when it holds (first one wins)."""

    def guard(model: MachineModel) -> bool:
        holds = bool(expression.evaluate(model.scope))
        if holds:
            model.trace.append((how, source, target))
        return holds

    guard.__name__ = f"holds({expression.source})"
    return guard


def _note(how: str, source: str, target: str) -> Callable[[MachineModel], None]:
    def note(model: MachineModel) -> None:
        model.trace.append((how, source, target))

    return note


def _assign(
    assignments: Mapping[str, Expression | Any], source: str, target: str
) -> Callable[[MachineModel], None]:
    def assign(model: MachineModel) -> None:
        model.trace.append(("set", source, target))
        for name, value in assignments.items():
            result = value.evaluate(model.scope) if isinstance(value, Expression) else value
            model.variables[name] = result
            model.scope.setdefault("vars", {})[name] = result

    return assign


def _outcomes_of(flow: FlowFile, step: AnyStep, specs: Mapping[str, OperationSpec]) -> list[str]:
    """The outcomes a step can end with (besides hang-up, which the runtime handles)."""
    if isinstance(step, MenuStep):
        return [choice_outcome(key) for key in step.menu.choices] + ["max_attempts"]
    if isinstance(step, PlayStep):
        return ["done"]
    if isinstance(step, PaymentStep):
        return sorted(PAYMENT_OUTCOMES)
    if isinstance(step, CallFlowStep):
        return list(step.outcomes)
    if isinstance(step, AskStep | OperationStep):
        outcomes: set[str] = set()
        if step.uses is not None:
            spec = specs[step.uses]
            outcomes |= spec.outcomes
        if isinstance(step, AskStep):
            outcomes.add("max_attempts")
            if step.uses is None:
                outcomes.add("collected")
            if step.ask.dont_have_key is not None:
                outcomes.add("dont_have")
        return sorted(outcomes)
    return []


def _route_table(
    flow: FlowFile,
    section: str,
    index: int,
    step: AnyStep,
    specs: Mapping[str, OperationSpec],
    positions: Mapping[str, tuple[str, int]],
) -> dict[str, TargetRef]:
    routes: dict[str, TargetRef] = {}
    written: Mapping[str, str]
    if isinstance(step, MenuStep):
        written = {choice_outcome(k): v for k, v in step.menu.choices.items()} | step.outcomes
    elif isinstance(step, PlayStep):
        written = {"done": step.next}
    elif isinstance(step, AskStep | OperationStep | CallFlowStep | PaymentStep):
        written = step.outcomes
    else:
        written = {}
    for outcome in _outcomes_of(flow, step, specs):
        target = written.get(outcome)
        if target is None and outcome == ERROR_OUTCOME:
            target = flow.defaults.on_error
        if target is None:
            raise CompileError(f"step {step.step!r}: outcome {outcome!r} is not routed")
        routes[outcome] = resolve_target(flow, section, index, target, positions)
    return routes


def compile_flow(
    flow: FlowFile,
    path: str = "<flow>",
    step_lines: Mapping[str, int] | None = None,
    operations: Mapping[str, OperationSpec] = BUILTIN_SPECS,
) -> CompiledFlow:
    """Build the StateChart class and the step plans of one validated flow version."""
    lines = step_lines or {}
    plans: dict[str, StepPlan] = {}
    states: dict[str, dict[str, Any]] = {}
    terminals: dict[str, TargetRef] = {}

    skippable = {step.step for _, _, step in flow.all_steps() if step.skip_if is not None}

    def target_state(target: TargetRef) -> str:
        if target.kind == "step":
            name = target.name
            return entry_state_id(name) if name in skippable else state_id(name)
        terminal = terminal_state_id(target)
        terminals[terminal] = target
        return terminal

    positions = step_positions(flow)

    def resolve(section: str, index: int, target: str) -> TargetRef:
        return resolve_target(flow, section, index, target, positions)

    for section, index, step in flow.all_steps():
        routes = _route_table(flow, section, index, step, operations, positions)
        definition: dict[str, Any] = {"on": {}, "transitions": []}
        here = state_id(step.step)
        if step.skip_if is not None:
            # checked once, on the way in: the step's own state never re-checks it
            skip_to = target_state(resolve(section, index, "next"))
            guard = _guard(parse_expression(step.skip_if), "skipped", here, skip_to)
            states[entry_state_id(step.step)] = {
                "on": {},
                "transitions": [{"target": skip_to, "cond": guard}, {"target": here}],
            }
        for outcome, target in routes.items():
            definition["on"][outcome_event(outcome)] = [{"target": target_state(target)}]
        if isinstance(step, DecideStep):
            for branch in step.decide:
                then = target_state(resolve(section, index, branch.then))
                condition = _guard(parse_expression(branch.if_), "decided", here, then)
                definition["transitions"].append({"target": then, "cond": condition})
            fallback = target_state(resolve(section, index, step.else_))
            definition["transitions"].append(
                {"target": fallback, "on": _note("decided", here, fallback)}
            )
        elif isinstance(step, SetStep):
            values = {
                name: parse_expression(value) if isinstance(value, str) else value
                for name, value in step.set.items()
            }
            after = target_state(resolve(section, index, step.next))
            definition["transitions"].append({"target": after, "on": _assign(values, here, after)})
        is_terminal = isinstance(step, RouteStep | HangupStep | ReturnStep)
        if is_terminal:
            definition["on"][NEVER_SENT] = [{"target": state_id(step.step)}]
        states[state_id(step.step)] = definition
        plans[step.step] = StepPlan(
            step_id=step.step,
            kind=_kind(step),
            section=section,
            model=step,
            line=lines.get(step.step, 0),
            routes=routes,
            operation=operations.get(step.uses)
            if isinstance(step, AskStep | OperationStep) and step.uses
            else None,
            input=_input_of(flow, step),
            max_attempts=_max_attempts(flow, step),
            is_terminal=is_terminal,
        )

    for terminal in terminals:
        states[terminal] = {"on": {NEVER_SENT: [{"target": terminal}]}, "transitions": []}

    start = _start_target(flow)
    initial = target_state(start)
    if initial not in states:
        states[initial] = {"on": {NEVER_SENT: [{"target": initial}]}, "transitions": []}
    states[initial]["initial"] = True
    _check_every_step_can_leave(states, plans)
    # read the tables before the library sees the definition: building the class consumes keys
    eventless = _eventless_table(states)
    _check_no_eventless_loop(eventless)
    static_routes = _static_routes(states)
    try:
        machine_class = create_machine_class_from_definition(
            f"Flow_{flow.flow.id}_{flow.flow.version}".replace(".", "_").replace("-", "_"),
            states=states,  # type: ignore[arg-type]
        )
    except InvalidDefinition as error:
        raise CompileError(f"{path}: {error}") from error
    return CompiledFlow(
        flow=flow,
        path=path,
        plans=plans,
        terminals=terminals,
        initial_state=initial,
        machine_class=machine_class,
        static_routes=static_routes,
        settled_states=frozenset(states) - eventless.keys(),
        eventless=eventless,
    )


def _eventless_table(states: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[Hop, ...]]:
    """State -> its eventless transitions in document order, for every state that has some.

    The same guard and action callables the StateChart class gets, so the table and the
    library note the same trace; the runtime walks this table instead of the library.
    """
    table: dict[str, tuple[Hop, ...]] = {}
    for sid, definition in states.items():
        hops = tuple(_hop(sid, transition) for transition in definition.get("transitions", ()))
        if hops:
            table[sid] = hops
    return table


def _hop(source: str, transition: Mapping[str, Any]) -> Hop:
    guard, action = transition.get("cond"), transition.get("on")
    if not (guard is None or callable(guard)) or not (action is None or callable(action)):
        raise CompileError(f"state {source}: a guard or action is not a Python callable")
    return Hop(transition["target"], guard, action)


def _check_no_eventless_loop(eventless: Mapping[str, tuple[Hop, ...]]) -> None:
    """Refuse eventless transitions that can lead back to where they started.

    The checks refuse such flows already (`unbounded-loop`: a step with `skip_if` does not
    count as waiting); this keeps the guarantee for a flow compiled without them, so routing
    a call always ends, within as many hops as the flow has states with eventless transitions.
    """
    done: set[str] = set()
    for root in eventless:
        path: list[str] = []
        on_path: set[str] = set()
        work: list[tuple[str, bool]] = [(root, True)]
        while work:
            sid, entering = work.pop()
            if not entering:
                on_path.discard(path.pop())
                done.add(sid)
                continue
            if sid in done or sid not in eventless:
                continue
            if sid in on_path:
                loop = path[path.index(sid) :] + [sid]
                raise CompileError("eventless transitions loop: " + " -> ".join(loop))
            path.append(sid)
            on_path.add(sid)
            work.append((sid, False))
            work.extend((hop.target, True) for hop in eventless[sid])


def _static_routes(states: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(state, outcome) -> next state, for every outcome transition.

    An outcome transition has no guard and no action and is the only one for its event: the
    runtime reads it from this table, so anything else would be a compiler bug, refused here.
    """
    routes: dict[tuple[str, str], str] = {}
    for sid, definition in states.items():
        for event, transitions in definition.get("on", {}).items():
            if event == NEVER_SENT:
                continue
            only = transitions[0] if len(transitions) == 1 else {}
            if not event.startswith("o_") or "target" not in only or only.keys() != {"target"}:
                raise CompileError(f"state {sid}: event {event} is not a plain hop")
            routes[(sid, event[2:])] = only["target"]
    return routes


def _start_target(flow: FlowFile) -> TargetRef:
    if flow.flow.start is not None:
        for section, steps in flow.sections():
            if steps:
                return resolve_target(flow, section, 0, flow.flow.start)
    for _section, steps in flow.sections():
        if steps:
            return TargetRef("step", steps[0].step)
    raise CompileError("the flow has no steps")


def _kind(step: AnyStep) -> str:
    from ivr.flow.model import step_kind

    kind = step_kind(step)
    if kind is None:  # pragma: no cover - every model class has a kind
        raise CompileError(f"step {step.step!r} has no kind")
    return kind


def _input_of(flow: FlowFile, step: AnyStep) -> EffectiveInput | None:
    if isinstance(step, AskStep):
        return flow.effective_input(step.ask)
    if isinstance(step, MenuStep):
        return flow.effective_input(step.menu)
    if isinstance(step, PaymentStep):
        return flow.effective_input(step.payment)
    return None


def _max_attempts(flow: FlowFile, step: AnyStep) -> int:
    if isinstance(step, AskStep | MenuStep | PaymentStep) and step.max_attempts is not None:
        return step.max_attempts
    return flow.defaults.max_attempts


def _check_every_step_can_leave(
    states: Mapping[str, Mapping[str, Any]], plans: Mapping[str, StepPlan]
) -> None:
    """Every state must have a path to a place where the call leaves the flow."""
    leaves = {sid for sid in states if sid.startswith("t_")}
    leaves |= {state_id(p.step_id) for p in plans.values() if p.is_terminal}
    incoming: dict[str, set[str]] = {sid: set() for sid in states}
    for sid, definition in states.items():
        targets = [t["target"] for ts in definition.get("on", {}).values() for t in ts]
        targets += [t["target"] for t in definition.get("transitions", [])]
        for target in targets:
            incoming.setdefault(target, set()).add(sid)
    can_leave, frontier = set(leaves), list(leaves)
    while frontier:
        for source in incoming.get(frontier.pop(), ()):
            if source not in can_leave:
                can_leave.add(source)
                frontier.append(source)
    stuck = sorted(sid[2:] for sid in states if sid not in can_leave)
    if stuck:
        raise CompileError(f"steps with no way out of the flow: {', '.join(stuck)}")
