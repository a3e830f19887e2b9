"""A callback's fields, statuses and the bodies the app sends and gets back.

The answer model (CallbackView) has no secret field at all: no code path can put the secret in
an answer. Statuses move requested -> scheduled -> dialling -> connected -> completed, or end in
failed, cancelled or expired (TERMINAL); only a booking not yet dialling may be changed.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ivr.callbacks.numbers import e164


class Status(StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    DIALLING = "dialling"
    CONNECTED = "connected"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.EXPIRED})
CHANGEABLE = frozenset({Status.REQUESTED, Status.SCHEDULED})

# A secret is spoken by the gateway's text-to-speech: words a voice can say, nothing to parse.
SECRET_PATTERN = re.compile(r"[^\W_]+(?:[ '-][^\W_]+)*")
SECRET_MAX = 40


def _secret(value: str) -> str:
    value = " ".join(value.split())
    if not 2 <= len(value) <= SECRET_MAX or not SECRET_PATTERN.fullmatch(value):
        # the message never repeats the value
        raise ValueError(
            f"secret must be 2-{SECRET_MAX} letters or digits, words separated by a space,"
            " hyphen or apostrophe"
        )
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone offset (e.g. 2026-12-03T17:30:00+00:00 or ...Z)")
    return value


Secret = Annotated[str, AfterValidator(_secret)]
Number = Annotated[str, AfterValidator(e164)]
AwareTime = Annotated[datetime, AfterValidator(_aware)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class Window(BaseModel):
    """When the customer can take the call: ISO 8601 times with offsets, and their time zone."""

    model_config = ConfigDict(extra="forbid")
    start: AwareTime
    end: AwareTime
    time_zone: str | None = Field(None, description="IANA zone, e.g. Europe/London")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class Booking(BaseModel):
    """POST /callbacks. The smallest body: number, queue, secret and window."""

    model_config = ConfigDict(extra="forbid")
    number: Number
    queue: Name
    window: Window
    secret: Secret | None = None
    use_standing_secret: bool = Field(
        False, description="read the customer's standing secret when no secret is given"
    )
    reason: str | None = Field(None, max_length=200)
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class Change(BaseModel):
    """PATCH /callbacks/{id}: reschedule, change the number or the secret (null removes it)."""

    model_config = ConfigDict(extra="forbid")
    number: Number | None = None
    window: Window | None = None
    secret: Secret | None = None
    reason: str | None = Field(None, max_length=200)
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class StandingSecret(BaseModel):
    """PUT /customers/me/secret: one secret read on every call the company makes."""

    model_config = ConfigDict(extra="forbid")
    secret: Secret


class WindowView(BaseModel):
    start: datetime
    end: datetime
    time_zone: str


class CallbackView(BaseModel):
    """What the app gets back: everything but the secret (only whether there is one)."""

    id: str
    customer_id: str
    number: str
    queue: str
    reason: str | None
    language: str | None
    window: WindowView
    scheduled_at: datetime
    status: Status
    attempts: int
    max_attempts: int
    retry_delay_s: int
    next_attempt_at: datetime | None
    has_secret: bool
    secret_source: str | None = Field(description="'callback', 'standing' or null")
    idv_status: str
    source: str = Field(description="'app' or 'ivr' (booked during a call)")
    outcome: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    connected_at: datetime | None
    ended_at: datetime | None


class CallbackList(BaseModel):
    callbacks: list[CallbackView]


class Slot(BaseModel):
    start: datetime
    end: datetime
    available: int


class Slots(BaseModel):
    queue: str
    date: str
    time_zone: str
    slots: list[Slot]


class Problem(BaseModel):
    """Errors (RFC 9457 problem details); never holds a submitted value."""

    title: str
    status: int
    detail: str | None = None
