"""A compiled flow at run time: its step plans, its StateChart, and routing one outcome.

One StateChart class per flow version and one shared instance per worker: a call's state is
plain data put on the instance's model for the moment an outcome is routed, so memory per
active call does not grow with the size of the flow. Built by `ivr.flow.compiler`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.engine.operations import OperationSpec
from ivr.flow.model import AnyStep, EffectiveInput, FlowFile
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

        A hop with no guard and no action is read from the same definition table the StateChart
        class was built from (`static_routes`); the library's engine, at about 150 µs a
        microstep here, runs only what evaluates guards or actions (`skip_if`, `decide`, `set`).
        """
        if outcome is not None:
            target = self.static_routes.get((current_state, outcome))
            if target is not None:
                current_state, outcome = target, None  # taken; the target may still move on
        if outcome is None and current_state in self.settled_states:
            return current_state, []
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
