"""Where an outcome sends the call: the target grammar of the flow language.

next                  the next step of the same list; past the end of `identify` that is
                      result.not_identified, past the end of `verify`
                      result.identified_and_verified, past the end of `steps` an error
STEP_ID               that step
identify | verify | steps   the first step of that list
result.STATUS         the result for an ID&V status (see `results:`)
route.NAME            hand the call on by a named route
return.VALUE          end this sub-flow; VALUE is the outcome of the calling step
hangup                end the call
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ivr.flow.model import IDV_STATUSES, SECTIONS, FlowFile

TargetKind = Literal["step", "result", "route", "return", "hangup"]
RESERVED_STEP_IDS = frozenset({"next", "hangup", "result", "route", "return", *SECTIONS})
SECTION_END = {
    "identify": "result.not_identified",
    "verify": "result.identified_and_verified",
}


class TargetError(ValueError):
    """A target that leads nowhere; `hint` suggests the fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class TargetRef:
    kind: TargetKind
    name: str  # step id, ID&V status, route name or return value; "" for hangup

    def __str__(self) -> str:
        return self.name if self.kind == "step" else f"{self.kind}.{self.name}".rstrip(".")


def step_positions(flow: FlowFile) -> dict[str, tuple[str, int]]:
    """Step id -> (section, index); the first definition wins when ids repeat."""
    positions: dict[str, tuple[str, int]] = {}
    for section, index, step in flow.all_steps():
        positions.setdefault(step.step, (section, index))
    return positions


def resolve_target(
    flow: FlowFile,
    section: str,
    index: int,
    target: str,
    positions: Mapping[str, tuple[str, int]] | None = None,
) -> TargetRef:
    """Resolve `target`, written on step `index` of `section`; raises TargetError.

    Pass `positions` (from `step_positions`) when resolving many targets of one flow.
    """
    lists = dict(flow.sections())
    if target == "next":
        steps = lists[section]
        if index + 1 < len(steps):
            return TargetRef("step", steps[index + 1].step)
        if section in SECTION_END:
            return resolve_target(flow, section, index, SECTION_END[section], positions)
        raise TargetError(
            f"'next' after the last step of '{section}' leads nowhere",
            "route this outcome to a step, a result, a route or 'hangup'",
        )
    if target == "hangup":
        return TargetRef("hangup", "")
    if target in SECTIONS:
        if not lists[target]:
            raise TargetError(f"'{target}' has no steps", f"add steps under '{target}:'")
        return TargetRef("step", lists[target][0].step)
    prefix, dot, name = target.partition(".")
    if dot and prefix == "result":
        if name not in IDV_STATUSES:
            raise TargetError(
                f"'{name}' is not an ID&V status", "use one of: " + ", ".join(IDV_STATUSES)
            )
        return TargetRef("result", name)
    if dot and prefix in ("route", "return"):
        if not name:
            raise TargetError(f"'{target}' names no {prefix}")
        return TargetRef(prefix, name)  # type: ignore[arg-type]
    if target in (positions if positions is not None else step_positions(flow)):
        return TargetRef("step", target)
    raise TargetError(f"no step named '{target}'")
