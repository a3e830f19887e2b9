"""The payment processor port: tokenise a card, then charge the token.

Two calls, as processors work: the card number and CVV go to the processor once, for a
token; the charge names the token and the amount, so a retried charge (same idempotency key)
never needs the digits again. Implementations: the built-in test processor (no network,
documented test cards) and the HTTP processor (docs/payment-processor-contract.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

ChargeOutcome = Literal["paid", "declined", "error"]


@dataclass(frozen=True, slots=True)
class CardDetails:
    """What the caller keyed in. Never printed: every digit field is left out of the repr."""

    pan: str = field(repr=False)
    expiry_mmyy: str = field(repr=False)
    cvv: str = field(repr=False)
    postcode: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    """A charge of `amount_minor` (pence, cents) in `currency` (ISO 4217), once per
    `idempotency_key` (the call and step: a redelivered webhook never charges twice)."""

    amount_minor: int
    currency: str
    idempotency_key: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The processor's answer; `detail` is a decline code or the kind of failure (journaled,
    so it never holds a card digit)."""

    outcome: ChargeOutcome
    reference: str | None = None
    token: str | None = None
    detail: str | None = None


class ProcessorError(Exception):
    """The processor could not be reached or answered nonsense: the payment's `error`."""


class PaymentProcessor(Protocol):
    """Tokenise and charge; both raise ProcessorError when the processor fails."""

    name: str

    async def tokenise(self, card: CardDetails) -> str:
        """A token for the card (the only thing stored or journaled afterwards)."""
        ...

    async def charge(self, token: str, request: ChargeRequest) -> ChargeResult: ...

    async def ready(self) -> bool:
        """Whether the processor answers now (/readyz)."""
        ...

    async def close(self) -> None: ...


async def pay(
    processor: PaymentProcessor, card: CardDetails, request: ChargeRequest
) -> ChargeResult:
    """Tokenise then charge; any failure is an `error` result naming its kind only."""
    try:
        token = await processor.tokenise(card)
    except ProcessorError as error:
        return ChargeResult("error", detail=str(error))
    try:
        result = await processor.charge(token, request)
    except ProcessorError as error:
        return ChargeResult("error", token=token, detail=str(error))
    return ChargeResult(result.outcome, result.reference, result.token or token, result.detail)
