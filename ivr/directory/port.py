"""The customer directory port: what the engine needs from wherever customers are kept.

Implementations: the embedded SQLite directory (default) and the HTTP directory. Both are
wrapped by the lockout policy so that failed verifications count across calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    name: str


class LookupStatus(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    MANY = "many"


@dataclass(frozen=True, slots=True)
class LookupResult:
    status: LookupStatus
    customer: Customer | None = None

    @classmethod
    def found(cls, customer: Customer) -> LookupResult:
        return cls(LookupStatus.FOUND, customer)


class VerifyStatus(StrEnum):
    VERIFIED = "verified"
    WRONG = "wrong"
    LOCKED = "locked"
    NOT_ENROLLED = "not_enrolled"  # the customer has no answer on file for this field


class DirectoryError(Exception):
    """The directory could not answer (down, bad reply); the flow routes the caller on."""


class CustomerDirectory(Protocol):
    async def lookup_by_phone(self, e164: str) -> LookupResult: ...

    async def lookup_by_account(self, account_number: str) -> LookupResult: ...

    async def verify_answer(self, customer_id: str, field: str, answer: str) -> VerifyStatus: ...

    async def close(self) -> None: ...
