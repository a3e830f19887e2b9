"""CallEvent: what a gateway tells the engine, in one vocabulary whatever the gateway.

Adapters translate their wire format into these; the engine never sees provider JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class CallerIdTrust(StrEnum):
    """How far the network vouches for the calling number (STIR/SHAKEN attestation)."""

    FULL = "A"  # attestation A: the carrier knows the customer and the number
    PARTIAL = "B"  # attestation B: the carrier knows the customer, not the number
    GATEWAY = "C"  # attestation C: the carrier only knows where the call entered
    FAILED = "failed"  # a signature was present and did not verify
    UNKNOWN = "unknown"  # no attestation at all


class DigitsTermination(StrEnum):
    """Why the gateway stopped collecting keys."""

    TERM_KEY = "term_key"
    MAX_DIGITS = "max_digits"
    INTER_DIGIT_TIMEOUT = "inter_digit_timeout"


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: str
    ani: str | None
    dnis: str | None
    caller_id_trust: CallerIdTrust = CallerIdTrust.UNKNOWN
    # A call the company placed (a callback): what it is for, e.g. {"flow": "callback",
    # "callback_id": ..., "callback_sig": ...}, from the signed URL or body the dialler set.
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DigitsCollected:
    """Keys pressed for the current collect action, terminator excluded."""

    call_id: str
    digits: str
    terminated_by: DigitsTermination = DigitsTermination.TERM_KEY


@dataclass(frozen=True, slots=True)
class NoInput:
    """The caller pressed nothing before the collect timeout."""

    call_id: str


@dataclass(frozen=True, slots=True)
class PromptFinished:
    """A play-only action ended; the gateway asks what comes next."""

    call_id: str


@dataclass(frozen=True, slots=True)
class HungUp:
    call_id: str


@dataclass(frozen=True, slots=True)
class TransferResult:
    """The outcome of a transfer the engine asked for (answered, busy, failed...)."""

    call_id: str
    result: str


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What a gateway that took the card itself (Twilio `<Pay>`) says about the payment:
    never the card, only its type, the last four and the processor's token and reference."""

    call_id: str
    step: str
    result: str  # the gateway's own word: success, payment-connector-error, ...
    card_type: str = ""
    last4: str = ""
    reference: str = ""  # the charge's confirmation code
    token: str = ""
    error: str = ""  # the gateway's error code, if any


CallEvent = (
    CallStarted
    | DigitsCollected
    | NoInput
    | PromptFinished
    | HungUp
    | TransferResult
    | PaymentResult
)
