"""Operations a flow step may `use`: the registry pairing their specs with implementations.

The specs themselves (outcomes, parameters) are part of the flow language: ivr.flow.operations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.directory.port import Customer
from ivr.engine.events import CallerIdTrust
from ivr.flow.operations import BUILTIN_SPECS as BUILTIN_SPECS
from ivr.flow.operations import ERROR_OUTCOME as ERROR_OUTCOME
from ivr.flow.operations import OperationSpec as OperationSpec

# A rate limit refused the attempt (ivr.limits): journalled as such, routed as `error`, so
# every flow that routes errors routes limited callers too.
LIMITED_OUTCOME = "limited"


@dataclass(frozen=True, slots=True)
class OperationCall:
    """What an operation sees of the call; `digits` is the caller's input, if the step asked."""

    call_id: str
    ani: str | None
    caller_id_trust: CallerIdTrust
    customer_id: str | None
    digits: str | None
    params: Mapping[str, Any]
    region: str = "GB"  # where the service line reads national calling numbers
    customer_name: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    idv_status: str | None = None  # what the call has proved so far (handoff.consistent_status)
    service_line: str = ""  # the call's line: its limits (ivr.limits)
    language: str = ""  # the language the call is spoken in


@dataclass(frozen=True, slots=True)
class OperationResult:
    """`detail` goes to the journal: it must never hold a secret."""

    outcome: str
    customer: Customer | None = None
    detail: str = ""
    # call variables the operation learnt, for prompts (`{name}`) and conditions (`vars.name`);
    # they are saved with the call, so never a secret
    values: Mapping[str, str] = field(default_factory=dict)
    factors: tuple[str, ...] = ()  # verification factors the operation vouches were passed
    # route names for this call -> a route of config/routes.yaml (OperationSpec.routes)
    routes: Mapping[str, str] = field(default_factory=dict)
    # the language the call should be spoken in from now on (e.g. the one a callback was booked
    # in); the engine takes it when the flow has prompts in it, else keeps the line's and warns
    language: str | None = None


Operation = Callable[[OperationCall], Awaitable[OperationResult]]


@dataclass
class OperationRegistry:
    """Specs and implementations by name; the runtime looks operations up here."""

    specs: dict[str, OperationSpec] = field(default_factory=lambda: dict(BUILTIN_SPECS))
    implementations: dict[str, Operation] = field(default_factory=dict)

    def register(self, spec: OperationSpec, implementation: Operation) -> None:
        self.specs[spec.name] = spec
        self.implementations[spec.name] = implementation

    def implement(self, name: str, implementation: Operation) -> None:
        if name not in self.specs:
            raise KeyError(f"no operation spec named {name!r}")
        self.implementations[name] = implementation

    def get(self, name: str) -> tuple[OperationSpec, Operation]:
        """The spec and implementation; one not set up here (e.g. callbacks without a journal)
        answers `error`, so the flow routes the caller on."""
        return self.specs[name], self.implementations.get(name, _not_configured)


async def _not_configured(call: OperationCall) -> OperationResult:
    return OperationResult(ERROR_OUTCOME, detail="operation not configured on this server")
