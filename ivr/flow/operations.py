"""What operations a flow step may `use` declare: their outcomes and parameters.

The specs are static so that validation can check a flow (every outcome routed, required
parameters given) without opening any directory; they belong to the flow language, and the
engine's registry (ivr.engine.operations) pairs them with implementations. Every operation
also has the `error` outcome: an exception or a missed deadline is `error`, never success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

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
