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
    values: frozenset[str] = frozenset()  # prompt values ({name}) the operation may set
    # route names the operation sets for the call it runs on (a flow using it may route there)
    routes: frozenset[str] = frozenset()


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
            OperationSpec(
                name="verify.otp",
                description="Check a one-time code the caller keys in: from their authenticator"
                " (method totp, each time step once) or the code otp.send sent (method sent)",
                outcomes=frozenset(
                    {"verified", "expired", "locked", "not_enrolled", ERROR_OUTCOME}
                ),
                retry_outcomes=frozenset({"wrong"}),
                takes_input=True,
                optional_params=frozenset({"method"}),
                param_values={"method": frozenset({"totp", "sent"})},
            ),
            OperationSpec(
                name="otp.enrolled",
                description="Has the customer an authenticator (TOTP) on file? Asked before"
                " asking for its code, so a customer without one is never asked",
                outcomes=frozenset({"enrolled", "not_enrolled", ERROR_OUTCOME}),
            ),
            OperationSpec(
                name="otp.send",
                description="Send a one-time code to the customer's registered phone (sms) or"
                " app (push); `locked` when the resend limit is reached",
                outcomes=frozenset({"sent", "not_enrolled", "locked", ERROR_OUTCOME}),
                optional_params=frozenset({"channel"}),
                param_values={"channel": frozenset({"sms", "push"})},
            ),
            OperationSpec(
                name="stepup.answer",
                description="The caller answers an agent's step-up (seed 000's smart PIN) by"
                " keypad: the code checks the newest challenge pending for this call",
                outcomes=frozenset(
                    {
                        "verified",
                        "no_challenge",
                        "expired",
                        "failed",
                        "locked",
                        "not_enrolled",
                        ERROR_OUTCOME,
                    }
                ),
                retry_outcomes=frozenset({"wrong"}),
                takes_input=True,
            ),
            OperationSpec(
                name="callback.load",
                description="On a callback the company placed: load it (customer, name, ID&V"
                " status from booking, language); `verified` when the booking was made verified;"
                " route `callback_queue` then reaches the queue it was booked into",
                outcomes=frozenset(
                    {"verified", "identified", "machine", "not_found", ERROR_OUTCOME}
                ),
                values=frozenset({"callback_id", "callback_queue"}),
                routes=frozenset({"callback_queue"}),
            ),
            OperationSpec(
                name="callback.read_secret",
                description="Make the callback's secret the prompt value {secret}, spoken by"
                " the gateway's own speech (never stored, never recorded)",
                outcomes=frozenset({"read", "no_secret", ERROR_OUTCOME}),
                values=frozenset({"secret", "reverse_idv"}),
            ),
            OperationSpec(
                name="callback.finish",
                description="Record how the callee answered: connected, rebook or declined",
                outcomes=frozenset({"done", ERROR_OUTCOME}),
                required_params=frozenset({"as"}),
                param_values={"as": frozenset({"connected", "rebook", "declined"})},
                values=frozenset({"callback_minutes"}),
            ),
            OperationSpec(
                name="callback.book",
                description="An identified caller books a callback to the number they call"
                " from, instead of waiting ({callback_time} is when)",
                outcomes=frozenset(
                    {"booked", "not_identified", "no_number", "closed", ERROR_OUTCOME}
                ),
                required_params=frozenset({"queue"}),
                optional_params=frozenset({"after_minutes"}),
                values=frozenset({"callback_id", "callback_minutes"}),
            ),
            OperationSpec(
                name="queue.estimated_wait",
                description="The queue's expected wait from the figures the contact centre"
                " pushes; {wait_minutes} in words",
                outcomes=frozenset({"short", "long", "closed", "unknown", ERROR_OUTCOME}),
                required_params=frozenset({"queue"}),
                optional_params=frozenset({"long_after_minutes"}),
                values=frozenset({"wait_minutes"}),
            ),
        )
    }
)
