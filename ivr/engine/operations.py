"""Operations a flow step may `use`: their declared outcomes, and the registry of implementations.

The specs are static so that validation can check a flow (every outcome routed, required
parameters given) without opening any directory. Every operation also has the `error`
outcome: an exception or a missed deadline is `error`, never success.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ivr.directory.port import Customer
from ivr.engine.events import CallerIdTrust

ERROR_OUTCOME = "error"


@dataclass(frozen=True, slots=True)
class OperationSpec:
    name: str
    description: str
    outcomes: frozenset[str]  # outcomes a step must route (ERROR_OUTCOME included)
    retry_outcomes: frozenset[str] = frozenset()  # in an ask step: a failed attempt, asked again
    takes_input: bool = False  # needs the digits of an `ask`
    required_params: frozenset[str] = frozenset()
    optional_params: frozenset[str] = frozenset()
    param_values: Mapping[str, frozenset[str]] = field(default_factory=dict)  # allowed values


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


@dataclass(frozen=True, slots=True)
class OperationResult:
    """`detail` goes to the journal: it must never hold a secret."""

    outcome: str
    customer: Customer | None = None
    detail: str = ""


Operation = Callable[[OperationCall], Awaitable[OperationResult]]


BUILTIN_SPECS: Mapping[str, OperationSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            OperationSpec(
                name="directory.lookup_by_ani",
                description="Identify the caller by the calling number (never verifies anyone)",
                outcomes=frozenset({"found", "not_found", "many", ERROR_OUTCOME}),
                optional_params=frozenset({"min_trust"}),
                # STIR/SHAKEN attestation the calling number needs before it is looked up
                param_values={"min_trust": frozenset({"A", "B", "C"})},
            ),
            OperationSpec(
                name="directory.lookup_by_account",
                description="Identify the caller by the account number they key in",
                outcomes=frozenset({"found", ERROR_OUTCOME}),
                retry_outcomes=frozenset({"not_found"}),
                takes_input=True,
            ),
            OperationSpec(
                name="verify.answer",
                description="Check a security answer the caller keys in against the one on file",
                outcomes=frozenset({"verified", "locked", "not_enrolled", ERROR_OUTCOME}),
                retry_outcomes=frozenset({"wrong"}),
                takes_input=True,
                required_params=frozenset({"field"}),
            ),
        )
    }
)


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
        return self.specs[name], self.implementations[name]
