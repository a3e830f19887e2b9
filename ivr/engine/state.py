"""Per-call state: plain, serialisable data, so any worker holding the store can continue a call.

Nothing here refers to the compiled flow's objects; the flow is named by id and version, and
the machine state by its id. A few hundred bytes a call, whatever the size of the flow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Frame:
    """A flow that called another with `call_flow` and waits for it to return."""

    flow_id: str
    flow_version: str
    state: str


@dataclass(slots=True)
class CallState:
    call_id: str
    flow_id: str
    flow_version: str
    service_line: str
    language: str
    ani: str | None
    dnis: str | None
    caller_id_trust: str
    state: str = ""  # machine state id (s_<step> or t_<terminal>)
    attempts: dict[str, int] = field(default_factory=dict)
    # failed tries of the current visit by kind, "step:no_input" -> count (prompt escalation)
    retries: dict[str, int] = field(default_factory=dict)
    # partial answers: the positions a step asks this call, chosen at random on entry
    positions: dict[str, list[int]] = field(default_factory=dict)
    customer_id: str | None = None
    customer_name: str | None = None
    identified_by: str | None = None  # the step that identified the caller
    factors_passed: list[str] = field(default_factory=list)
    locked: bool = False
    variables: dict[str, Any] = field(default_factory=dict)
    idv_status: str | None = None
    route: dict[str, str] | None = None  # {"kind", "name", "target"} once routed
    # route names an operation set for this call (e.g. callback_queue) -> a configured route
    routes: dict[str, str] = field(default_factory=dict)
    ended_by: str | None = None  # "route" | "hangup"
    steps_taken: int = 0
    seq: int = 0  # next journal record number
    started_at: float = 0.0
    step_started_at: float = 0.0
    stack: list[Frame] = field(default_factory=list)
    # a payment step's visit: the field asked, its attempt, and the card entry so far, sealed
    # (ivr.payments.vault); None outside a payment step and once the call has ended
    payment: dict[str, Any] | None = None
    # exactly once per delivery: every gateway delivery applied to the call (its delivery key)
    # with the answer it got, as the pipeline stores it; a redelivery gets that answer again
    answers: dict[str, Any] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.ended_by is not None

    @property
    def step(self) -> str | None:
        return self.state[2:] if self.state.startswith("s_") else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallState:
        """The state saved by `to_dict`; `data` is left as it was (it may be loaded again)."""
        stack = data.get("stack")
        if not stack:  # the usual case: no called flow, nothing to copy or convert
            state = cls(**data)
            state.stack = []
            return state
        values = dict(data)
        values["stack"] = [Frame(**frame) for frame in stack]
        return cls(**values)
