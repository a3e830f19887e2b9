"""Compile a validated flow into a python-statemachine StateChart and a per-step plan.

One class per flow version, one shared machine instance per worker: a call's state is plain
data that is swapped onto the machine's model for the few microseconds an outcome is routed,
so memory per active call does not grow with the size of the flow.

States are the flow's steps (`s_<step>`) and the places a call leaves the flow (`t_...`:
results, routes, returns, hang-up). Events are step outcomes (`o_<outcome>`). `skip_if`,
`decide` and `set` compile to eventless transitions with Python guards and actions, so the
machine runs them within the same macrostep. A `skip_if` sits in an entry state (`e_<step>`)
in front of its step: the library re-checks a state's eventless transitions before taking
an event, and a step's condition must be checked on entry only, not again when its outcome
arrives (an operation may have changed what the condition reads).

Terminal states are not `final`: a final state stops the shared instance for every call.
They loop on an event that is never sent instead, and this module checks itself that every
step can reach one (the library's check only runs when final states exist).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from statemachine.exceptions import InvalidDefinition
from statemachine.io import create_machine_class_from_definition

from ivr.engine.operations import BUILTIN_SPECS, ERROR_OUTCOME, OperationSpec
from ivr.flow.expressions import Expression, parse_expression
from ivr.flow.model import (
    AnyStep,
    AskStep,
    CallFlowStep,
    DecideStep,
    EffectiveInput,
    FlowFile,
    HangupStep,
    MenuStep,
    OperationStep,
    PlayStep,
    ReturnStep,
    RouteStep,
    SetStep,
)
from ivr.flow.targets import TargetRef, resolve_target, step_positions

NEVER_SENT = "o__left_flow"  # keeps terminal states from being traps without making them final
KEY_EVENT_NAMES = {"*": "star", "#": "hash"}


class CompileError(Exception):
    """The flow passed validation but cannot become a machine (a bug in checks or compiler)."""


def state_id(step_id: str) -> str:
    return f"s_{step_id}"


def entry_state_id(step_id: str) -> str:
    """The state in front of a step with `skip_if`: it decides, once, whether to skip."""
    return f"e_{step_id}"


def terminal_state_id(target: TargetRef) -> str:
    return f"t_{target.kind}_{target.name}".rstrip("_")


def outcome_event(outcome: str) -> str:
    return f"o_{outcome}"


def choice_outcome(key: str) -> str:
    """Menu key -> the outcome name the machine routes ('1' -> 'key_1', '*' -> 'key_star')."""
    return f"key_{KEY_EVENT_NAMES.get(key, key)}"


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What the runtime needs to run one step, resolved once at compile time."""

    step_id: str
    kind: str
    section: str
    model: AnyStep
    line: int
    routes: Mapping[str, TargetRef]  # outcome -> where it goes
    operation: OperationSpec | None = None
    input: EffectiveInput | None = None
    max_attempts: int = 1
    is_terminal: bool = False


@dataclass(slots=True)
class MachineModel:
    """The shared instance's model: a call's state id and scope are swapped in per event."""

    state: Any = None
    scope: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    trace: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class CompiledFlow:
    flow: FlowFile
    path: str
    plans: dict[str, StepPlan]
    terminals: dict[str, TargetRef]  # terminal state id -> target
    initial_state: str
    machine_class: type[Any]
    static_routes: dict[tuple[str, str], str] = field(default_factory=dict)
    settled_states: frozenset[str] = frozenset()  # states with no eventless transitions
    _digest: str = ""
    _machine: Any = None
    _model: MachineModel | None = None

    @property
    def flow_id(self) -> str:
        return self.flow.flow.id

    @property
    def version(self) -> str:
        return self.flow.flow.version

    def machine(self) -> tuple[Any, MachineModel]:
        """This worker's shared instance, built on first use."""
        if self._machine is None or self._model is None:
            model = MachineModel(state=self.initial_state)
            self._machine = self.machine_class(model=model)
            self._model = model
        return self._machine, self._model

    def advance(
        self,
        current_state: str,
        outcome: str | None,
        scope: dict[str, Any],
        variables: dict[str, Any],
    ) -> tuple[str, list[tuple[str, str, str]]]:
        """Route `outcome` from `current_state` (None: only run eventless transitions).

        Returns the new state id and the steps passed without the caller: (how, step state,
        next state) for each `skip_if`, `decide` and `set` taken. Synchronous on purpose:
        nothing else can touch the shared instance between swapping a call's state in and out.

        A hop with no guard into a state with no eventless transitions is read from the same
        definition table the StateChart class was built from (`static_routes`); the library's
        engine, at about 150 µs a send here, runs the hops that evaluate guards or actions.
        """
        if outcome is None:
            if current_state in self.settled_states:
                return current_state, []
        else:
            target = self.static_routes.get((current_state, outcome))
            if target is not None:
                return target, []
        machine, model = self.machine()
        model.state = current_state
        model.scope = scope
        model.variables = variables
        model.trace = []
        if outcome is None:
            machine.send("o__settle")
        else:
            machine.send(outcome_event(outcome))
        trace = model.trace
        model.trace = []
        return str(model.state), trace

    @property
    def digest(self) -> str:
        """A hash of the flow's content: two loads of the same file have the same digest."""
        if not self._digest:
            self._digest = hashlib.sha256(self.flow.model_dump_json().encode()).hexdigest()
        return self._digest

    def plan_for_state(self, state: str) -> StepPlan | None:
        return self.plans.get(state[2:]) if state.startswith("s_") else None


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
    elif isinstance(step, AskStep | OperationStep | CallFlowStep):
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
    # read the table before the library sees it: building the class consumes some keys
    settled = frozenset(sid for sid, definition in states.items() if not definition["transitions"])
    static_routes = _static_routes(states, settled)
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
        settled_states=settled,
    )


def _static_routes(
    states: Mapping[str, Mapping[str, Any]], settled: frozenset[str]
) -> dict[tuple[str, str], str]:
    """(state, outcome) -> next state, for every hop whose result depends on nothing else.

    Both ends must be settled: the library re-checks a state's eventless transitions before
    it takes an event, so a hop from a state with `skip_if` or `decide` always runs in it.
    """
    routes: dict[tuple[str, str], str] = {}
    for sid, definition in states.items():
        if sid not in settled:
            continue
        for event, transitions in definition.get("on", {}).items():
            only = transitions[0] if len(transitions) == 1 else None
            if (
                only is not None
                and event.startswith("o_")
                and event != NEVER_SENT
                and "cond" not in only
                and "on" not in only
                and only["target"] in settled
            ):
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
    return None


def _max_attempts(flow: FlowFile, step: AnyStep) -> int:
    if isinstance(step, AskStep | MenuStep) and step.max_attempts is not None:
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
