"""What every dialer gets and gives: the call to place, and its gateway call id or a failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DialRequest:
    callback_id: str
    to: str  # E.164
    from_: str  # E.164: the company's number the customer sees
    answer_url: str  # the gateway asks here what to do once answered (our callback flow)
    status_url: str  # call progress (no answer, busy, completed, answering machine)
    ring_timeout_s: int
    context: dict[str, str]  # what the answer leg needs (also in answer_url's query)

    def __repr__(self) -> str:  # numbers stay out of stray logs
        return f"DialRequest(callback_id={self.callback_id!r})"


class DialFailed(Exception):
    """The gateway refused or could not be reached; `reason` is safe to journal."""

    def __init__(self, reason: str, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry  # False: retrying cannot help (e.g. the gateway refused the number)


class Dialer(Protocol):
    gateway: str

    async def dial(self, request: DialRequest) -> str:
        """Place the call; the gateway's id for it. Raises DialFailed."""
        ...

    async def close(self) -> None: ...
