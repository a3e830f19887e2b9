"""The HTTP payment processor: tokenise and charge over the contract of
docs/payment-processor-contract.md.

Every request runs under the engine's deadline (the caller is routed on rather than held in
silence). A failure is a ProcessorError naming its kind (`timeout`, `unreachable`,
`status_503`, `bad_answer`...), never a body: a processor may echo what it was sent, and the
tokenise request carries the card. The card goes out once, in the tokenise request; the
charge names the token only.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from ivr.directory.http_directory import read_capped
from ivr.payments.processor import CardDetails, ChargeRequest, ChargeResult, ProcessorError

MAX_ANSWER_BYTES = 16 * 1024
DEFAULT_TIMEOUT_S = 2.0


class HttpProcessor:
    """PaymentProcessor over HTTP; one connection pool for every call."""

    name = "http"

    def __init__(
        self, base_url: str, token: str | None, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers)
        return self._session

    async def tokenise(self, card: CardDetails) -> str:
        body: dict[str, Any] = {
            "number": card.pan,
            "expiry_month": card.expiry_mmyy[:2],
            "expiry_year": "20" + card.expiry_mmyy[2:],
            "cvv": card.cvv,
        }
        if card.postcode:
            body["postcode"] = card.postcode
        status, answer = await self._post("/tokens", {"card": body}, {})
        token = answer.get("token") if isinstance(answer, dict) else None
        if status not in (200, 201) or not isinstance(token, str) or not token:
            raise self._failed("tokenise", status, "bad_answer")
        return token

    async def charge(self, token: str, request: ChargeRequest) -> ChargeResult:
        body = {
            "token": token,
            "amount_minor": request.amount_minor,
            "currency": request.currency,
            "description": request.description,
        }
        headers = {"Idempotency-Key": request.idempotency_key}
        status, answer = await self._post("/charges", body, headers)
        if status not in (200, 201) or not isinstance(answer, dict):
            raise self._failed("charge", status, "bad_answer")
        verdict, reference = answer.get("status"), answer.get("reference")
        if verdict not in ("approved", "declined") or not isinstance(reference, str):
            raise self._failed("charge", status, "bad_answer")
        if verdict == "approved":
            return ChargeResult("paid", reference, token)
        code = answer.get("decline_code")
        detail = code if isinstance(code, str) and code.isidentifier() else "declined"
        return ChargeResult("declined", reference, token, detail[:40])

    async def ready(self) -> bool:
        try:
            async with self._client().get(
                self.base_url + "/health", timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            ) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._client().post(
                    self.base_url + path, json=body, headers=headers
                ) as resp:
                    raw = await read_capped(resp, MAX_ANSWER_BYTES)
                    status = resp.status
        except TimeoutError:
            raise self._failed(path, None, "timeout") from None
        except aiohttp.ClientError:
            raise self._failed(path, None, "unreachable") from None
        if status in (401, 403):
            raise self._failed(path, status, "unauthorised")
        if status >= 500:
            raise self._failed(path, status, f"status_{status}")
        if raw is None:
            raise self._failed(path, status, "too_large")
        try:
            return status, json.loads(raw)
        except ValueError:
            raise self._failed(path, status, "bad_answer") from None

    @staticmethod
    def _failed(what: str, status: int | None, kind: str) -> ProcessorError:
        """The error names its kind only (counted by the payment step, journaled)."""
        return ProcessorError(kind)
