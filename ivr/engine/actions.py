"""Action: what the engine asks a gateway to do, in one vocabulary whatever the gateway.

Adapters render these to TwiML, jambonz verbs or JSON; the engine never knows which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.config import RouteKind as RouteKind
from ivr.prompts.catalog import PromptRef as PromptRef


@dataclass(frozen=True, slots=True)
class Play:
    prompts: tuple[PromptRef, ...]
    barge_in: bool = True


@dataclass(frozen=True, slots=True)
class CollectDigits:
    """Collect keys from the caller; the prompts are played while waiting (barge-in aware)."""

    prompts: tuple[PromptRef, ...]
    min_digits: int
    max_digits: int
    term_key: str | None
    timeout_s: float
    inter_digit_timeout_s: float
    barge_in: bool
    dont_have_key: str | None = None
    step: str = ""
    attempt: int = 1
    # a partial answer: the positions (1-based) the prompt asks for; spoken, so not secret
    positions: tuple[int, ...] = ()
    # card digits: recordings write silence for these keys, and nothing echoes them
    secure: bool = False


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the call on; `handoff` is the data attached for the agent or next system."""

    kind: RouteKind
    target: str
    route_name: str
    handoff: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str = "flow"


@dataclass(frozen=True, slots=True)
class SecurePayment:
    """Let the gateway take the card itself (Twilio `<Pay>`): the caller keys the digits into
    the gateway, which charges through its own connector; only the result comes back, so no
    digit reaches this server. `prompts` are said for each field (`payment-card-number`,
    `expiration-date`, `security-code`, `postal-code`)."""

    amount: str  # "25.00": in the currency's major unit, as the gateway takes it
    currency: str  # ISO 4217
    connector: str
    step: str
    description: str = ""
    postal_code: bool = False
    max_attempts: int = 3
    timeout_s: float = 5.0
    prompts: tuple[tuple[str, PromptRef], ...] = ()


Action = Play | CollectDigits | Transfer | Hangup | SecurePayment
