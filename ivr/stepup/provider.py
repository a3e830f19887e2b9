"""The code provider port: who delivers a code by SMS or app push (docs/otp-provider-contract.md).

We make the code and keep only its keyed hash; the provider delivers it to the number or app
registered to the customer in the company's own records. The code never goes to the calling
number: caller ID can be spoofed, and a code sent to it would verify the fraudster.

Every request runs under a deadline; anything but the contract's answers (a timeout, a refused
connection, a 5xx, a body that is not the contract's JSON) is a ProviderError, which the flow
routes as `error`. Error messages name the status and the path, never the request body.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import aiohttp

from ivr.directory.http_directory import read_capped

DEFAULT_TIMEOUT_S = 2.0
MAX_ANSWER_BYTES = 16 * 1024
CHANNELS = frozenset({"sms", "push"})


class ProviderError(Exception):
    """The provider did not accept the code (down, slow, or an answer outside the contract)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # a short label for metrics: timeout, unreachable, status, garbage


class Delivery(StrEnum):
    SENT = "sent"
    NOT_ENROLLED = "not_enrolled"  # no mobile number / no app registered for the customer


@dataclass(frozen=True, slots=True)
class CodeMessage:
    customer_id: str
    channel: str
    code: str
    ttl_s: int
    reference: str  # idempotency: a retried request with the same reference sends nothing new

    def __repr__(self) -> str:  # never the code, wherever a message ends up printed
        return f"CodeMessage({self.customer_id!r}, {self.channel!r}, ref={self.reference!r})"


class CodeProvider(Protocol):
    async def send(self, message: CodeMessage) -> Delivery: ...

    async def ready(self) -> bool: ...


class HttpCodeProvider:
    """The HTTP contract; a short-lived session per request (codes are sent a few a minute)."""

    def __init__(self, base_url: str, token: str | None, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    async def send(self, message: CodeMessage) -> Delivery:
        body = {
            "customer_id": message.customer_id,
            "channel": message.channel,
            "code": message.code,
            "ttl_s": message.ttl_s,
            "reference": message.reference,
        }
        status, answer = await self._request("POST", "/codes", body)
        if not isinstance(answer, dict):
            raise ProviderError("garbage" if status < 300 else "status")
        if status in (200, 201, 202) and answer.get("status") in ("queued", "sent"):
            return Delivery.SENT
        if status == 404 and answer.get("error") == "not_enrolled":
            return Delivery.NOT_ENROLLED
        raise ProviderError("garbage" if status < 300 else "status")

    async def ready(self) -> bool:
        try:
            status, _ = await self._request("GET", "/health", None)
        except ProviderError:
            return False
        return status == 200

    async def _request(self, method: str, path: str, body: object) -> tuple[int, object]:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, headers=self._headers()) as session,
                session.request(method, self.base_url + path, json=body) as response,
            ):
                raw = await read_capped(response, MAX_ANSWER_BYTES)
                status = response.status
        except TimeoutError:
            raise ProviderError("timeout") from None
        except (aiohttp.ClientError, OSError):
            raise ProviderError("unreachable") from None
        if raw is None:
            raise ProviderError("garbage")
        try:
            return status, json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            if status >= 300:
                raise ProviderError("status") from None
            raise ProviderError("garbage") from None


async def within(deadline_s: float, provider: CodeProvider, message: CodeMessage) -> Delivery:
    """`provider.send` under a deadline of our own, whatever the provider's client does."""
    try:
        async with asyncio.timeout(deadline_s):
            return await provider.send(message)
    except TimeoutError:
        raise ProviderError("timeout") from None
