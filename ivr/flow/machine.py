"""A compiled flow at run time: its step plans, its StateChart, and routing one outcome.

One StateChart class per flow version, built by `ivr.flow.compiler` with the library's checks
and kept as the reference semantics (tests, diagrams). Calls are routed from plain tables
compiled from the same definition, so a call's state stays plain data and memory per active
call does not grow with the size of the flow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.flow.model import AnyStep, EffectiveInput, FlowFile
from ivr.flow.operations import OperationSpec
from ivr.flow.targets import TargetRef

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
    """What guards and actions read and write: a call's state id, scope, variables and trace.

    The shared StateChart instance has one (swapped per call, for tests and diagrams); the
    run-time table builds a fresh one per routing, so nothing is shared between calls.
    """

    state: Any = None
    scope: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    trace: list[tuple[str, str, str]] = field(default_factory=list)


Guard = Callable[[MachineModel], bool]
Action = Callable[[MachineModel], None]


@dataclass(frozen=True, slots=True)
class Hop:
    """One eventless transition, as the StateChart class was built from it.

    Taken when `guard` is None or holds; `action` runs as the transition's content.
    """

    target: str
    guard: Guard | None = None
    action: Action | None = None


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
    eventless: dict[str, tuple[Hop, ...]] = field(default_factory=dict)  # the other states
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
        """A shared StateChart instance, built on first use: the reference the tests compare
        the table with. Routing calls never uses it."""
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
        next state) for each `skip_if`, `decide` and `set` taken. `set` writes `variables`
        and the scope's `vars`.

        Everything is read from tables compiled from the definition the StateChart class was
        built from, in the library's order (SCXML): eventless transitions until none is
        enabled, then the event (an event with no transition changes nothing), then eventless
        transitions again; in a state, the first enabled transition in document order wins.
        A microstep through the library costs far more than a table hop (`python -m bench.engine`
        prints the engine's time per event).
        """
        settled = self.settled_states
        if outcome is None and current_state in settled:
            return current_state, []
        model = MachineModel(current_state, scope, variables, [])
        state = current_state if current_state in settled else self._settle(current_state, model)
        if outcome is not None:
            state = self.static_routes.get((state, outcome), state)
            if state not in settled:
                state = self._settle(state, model)
        return state, model.trace

    def plain_hop(self, current_state: str, outcome: str | None) -> str | None:
        """Where `outcome` leads when no guard or action runs on the way, else None.

        Most hops are plain: the runtime then routes without building the call's scope.
        """
        settled = self.settled_states
        if current_state not in settled:
            return None
        if outcome is None:
            return current_state
        target = self.static_routes.get((current_state, outcome), current_state)
        return target if target in settled else None

    def _settle(self, state: str, model: MachineModel) -> str:
        """Take eventless transitions until a state has none enabled.

        The compiler refuses a flow whose eventless transitions can loop, so this ends within
        as many hops as the flow has such states.
        """
        hops = self.eventless.get(state)
        while hops is not None:
            for hop in hops:
                if hop.guard is None or hop.guard(model):
                    break
            else:
                return state  # none enabled: the library rests here too
            if hop.action is not None:
                hop.action(model)
            state = hop.target
            hops = self.eventless.get(state)
        return state

    @property
    def digest(self) -> str:
        """A hash of the flow's content: two loads of the same file have the same digest."""
        if not self._digest:
            self._digest = hashlib.sha256(self.flow.model_dump_json().encode()).hexdigest()
        return self._digest

    def plan_for_state(self, state: str) -> StepPlan | None:
        return self.plans.get(state[2:]) if state.startswith("s_") else None
