"""The built-in test processor: charges in memory, no network, for `make run` and the simulator.

Its test cards (docs/payment-processor-contract.md) decide the answer, as processors' sandbox
cards do; every other valid card is paid, so generated cards (the PCI sweep) pay too.
"""

from __future__ import annotations

import secrets

from ivr.payments.processor import CardDetails, ChargeRequest, ChargeResult, ProcessorError

PAID_CARD = "4111111111111111"
DECLINED_CARD = "4000000000000002"
ERROR_CARD = "4000000000000119"  # the processor fails: the payment's `error` outcome
TEST_CARDS: dict[str, str] = {
    PAID_CARD: "paid",
    DECLINED_CARD: "declined (insufficient_funds)",
    ERROR_CARD: "error (processor_unavailable)",
}


class TestProcessor:
    """Tokens are opaque random strings; what is remembered per token is the verdict only,
    never the card."""

    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self) -> None:
        self._verdicts: dict[str, str] = {}
        self._charges: dict[str, ChargeResult] = {}

    async def tokenise(self, card: CardDetails) -> str:
        token = "tok_test_" + secrets.token_hex(12)
        self._verdicts[token] = self._verdict(card.pan)
        return token

    async def charge(self, token: str, request: ChargeRequest) -> ChargeResult:
        done = self._charges.get(request.idempotency_key)
        if done is not None:
            return done
        verdict = self._verdicts.pop(token, None)
        if verdict is None:
            raise ProcessorError("unknown_token")
        if verdict == "error":
            raise ProcessorError("processor_unavailable")
        reference = "TP-" + secrets.token_hex(6).upper()
        if verdict == "declined":
            result = ChargeResult("declined", reference, token, "insufficient_funds")
        else:
            result = ChargeResult("paid", reference, token)
        self._charges[request.idempotency_key] = result
        return result

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    @staticmethod
    def _verdict(pan: str) -> str:
        return TEST_CARDS.get(pan, "paid").split(" ", 1)[0]
