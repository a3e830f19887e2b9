"""The customer directory port: what the engine needs from wherever customers are kept.

Implementations: the embedded SQLite directory (default) and the HTTP directory. Both are
wrapped by the lockout policy so that failed verifications count across calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ivr.fields import FieldSpec


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    name: str
    locked: bool = False  # too many wrong answers lately: the agent must know, even if silent


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

    async def verify_answer(
        self, customer_id: str, field: str, answer: str, positions: Sequence[int] = ()
    ) -> VerifyStatus:
        """`positions` (1-based) name the digits of a partial field the caller was asked for."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class DeclaresFields(Protocol):
    """A directory that can say which security questions it checks (SQLite, HTTP)."""

    async def fields(self) -> dict[str, FieldSpec]: ...
