"""The HTTP directory: customers kept in the company's own system, reached over REST.

The contract is in docs/directory-http-contract.md. Every call runs under a deadline, because
a caller waiting in silence for a slow CRM is worse than being routed to an agent; any
failure becomes a DirectoryError. Error messages name the request path and the status, never
the answer and never the response body (a server may echo what it was sent).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError

from ivr.directory.port import (
    Customer,
    DirectoryError,
    LookupResult,
    LookupStatus,
    VerifyStatus,
)
from ivr.fields import FieldSpec
from ivr.numbers import to_e164

DEFAULT_TIMEOUT_S = 2.0
# A directory answer is a few hundred bytes; anything near this is a fault or an attack, and
# is refused after this many bytes instead of being read whole into memory.
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` bytes (declared or sent):
    at most `limit` + one chunk is ever held."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        return None
    body = bytearray()
    async for chunk in resp.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class HttpDirectory:
    """CustomerDirectory over HTTP; open with `await HttpDirectory.open(base_url, token)`."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        owns_session: bool = True,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_answer_bytes = max_answer_bytes
        self._session = session
        self._owns_session = owns_session

    @classmethod
    async def open(
        cls,
        base_url: str,
        token: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> HttpDirectory:
        """Create the one shared session (connection pool) used for every call."""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        session = aiohttp.ClientSession(headers=headers, raise_for_status=False)
        return cls(base_url, session, timeout_s=timeout_s, max_answer_bytes=max_answer_bytes)

    async def fields(self) -> dict[str, FieldSpec]:
        """`GET /fields`: the security questions the company's system can check."""
        data = await self._call("GET", "/fields")
        items = data.get("fields") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise DirectoryError("directory GET /fields returned no 'fields' list")
        specs: dict[str, FieldSpec] = {}
        for item in items:
            try:
                spec = FieldSpec.model_validate(item)
            except ValidationError:
                raise DirectoryError("directory GET /fields returned a malformed field") from None
            specs[spec.name] = spec
        return specs

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        what = f"{method} {path}"
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._session.request(method, self.base_url + path, json=body) as resp:
                    if resp.status // 100 != 2:
                        raise DirectoryError(f"directory {what} answered HTTP {resp.status}")
                    raw = await read_capped(resp, self.max_answer_bytes)
                    if raw is None:
                        resp.close()  # drop the connection: the rest is never read
                        raise DirectoryError(
                            f"directory {what} answered more than {self.max_answer_bytes} bytes"
                        )
        except TimeoutError:
            raise DirectoryError(f"directory {what} timed out after {self.timeout_s} s") from None
        except aiohttp.ClientConnectionError as exc:
            # These describe the connection (host, port, reason), never the request body.
            raise DirectoryError(f"directory {what} failed: {exc}") from None
        except aiohttp.ClientError as exc:
            raise DirectoryError(f"directory {what} failed: {type(exc).__name__}") from None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise DirectoryError(f"directory {what} returned malformed JSON") from None

    async def _lookup(self, path: str) -> LookupResult:
        data = await self._call("GET", path)
        customers = data.get("customers") if isinstance(data, dict) else None
        if not isinstance(customers, list):
            raise DirectoryError(f"directory GET {path} returned no 'customers' list")
        if not customers:
            return LookupResult(LookupStatus.NOT_FOUND)
        if len(customers) > 1:
            return LookupResult(LookupStatus.MANY)
        item = customers[0]
        if not (
            isinstance(item, dict)
            and isinstance(item.get("customer_id"), str)
            and isinstance(item.get("name"), str)
            and item["customer_id"]
        ):
            raise DirectoryError(f"directory GET {path} returned a malformed customer")
        locked = item.get("locked") is True
        return LookupResult.found(Customer(item["customer_id"], item["name"], locked))

    async def lookup_by_phone(self, e164: str) -> LookupResult:
        number = to_e164(e164)
        if number is None:  # withheld or not a number: never sent, never matched
            return LookupResult(LookupStatus.NOT_FOUND)
        return await self._lookup(f"/customers/by-phone/{quote(number, safe='')}")

    async def lookup_by_account(self, account_number: str) -> LookupResult:
        number = "".join(account_number.split())
        if not number:
            return LookupResult(LookupStatus.NOT_FOUND)
        return await self._lookup(f"/customers/by-account/{quote(number, safe='')}")

    async def verify_answer(
        self, customer_id: str, field: str, answer: str, positions: Sequence[int] = ()
    ) -> VerifyStatus:
        path = f"/customers/{quote(customer_id, safe='')}/verify"
        body: dict[str, Any] = {"field": field, "answer": answer}
        if positions:
            body["positions"] = sorted(positions)
        data = await self._call("POST", path, body)
        result = data.get("result") if isinstance(data, dict) else None
        try:
            return VerifyStatus(str(result))
        except ValueError:
            raise DirectoryError(f"directory POST {path} returned an unknown result") from None

    async def close(self) -> None:
        if self._owns_session:
            await self._session.close()
