"""The gateway adapter contract: one file per gateway, translation only, bytes in and bytes out.

An adapter turns one gateway request (its kind, URL, headers and raw body) into a core
`CallEvent`, and the engine's `Action`s back into the gateway's `Document`. It verifies the
gateway's signature. It never decides anything about the call and knows no web framework: the
call pipeline (ivr.calls) loads the call, drops duplicates, runs the engine and saves the call;
a transport (ivr.web for HTTP) only moves the bytes.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ivr.engine.actions import Action, PromptRef
from ivr.engine.events import CallEvent

Headers = Mapping[str, str]  # the transport's header mapping, names matched case-insensitively


class BadRequest(Exception):
    """Malformed request: answered 400, changes no call."""


class Unauthorized(Exception):
    """Missing, unparseable or wrong signature: answered 403, changes no call."""


@dataclass(frozen=True, slots=True)
class Document:
    """What a gateway gets back: the bytes of one answer and their media type.

    It is also what is remembered for a redelivery, so a duplicate gets exactly these bytes.
    """

    content_type: str  # the whole Content-Type value, e.g. "text/xml; charset=utf-8"
    body: bytes

    def stored(self) -> list[str]:
        """As plain JSON data for the session store (our documents are UTF-8 text)."""
        return [self.content_type, self.body.decode()]

    @classmethod
    def from_stored(cls, data: Sequence[str]) -> Document:
        return cls(data[0], data[1].encode())


@dataclass(frozen=True, slots=True)
class Inbound:
    """A parsed, authenticated gateway request."""

    event: CallEvent
    delivery_key: str  # the same for a redelivery of the same gateway event (idempotency)


@dataclass(frozen=True, slots=True)
class RenderContext:
    call_id: str
    language: str
    action_url: str  # absolute URL the gateway must call back with the caller's input
    prompt_url: Callable[[PromptRef], str | None]  # URL of a recording, None: speak the text
    call: Mapping[str, Any] | None = None  # the call summary, for adapters that carry it


class Adapter(ABC):
    """One gateway's wire format. Subclasses set the class attributes and the three methods.

    The transport mounts one route per kind, `/<name>/<kind>`, bound to that kind: the adapter
    is told which kind of request it reads and never looks at the path.
    """

    name: ClassVar[str]  # URL prefix too
    kinds: ClassVar[tuple[str, ...]]  # e.g. ("voice", "gather", "status")
    action_kind: ClassVar[str]  # the kind whose URL the gateway calls back with caller input
    carries_summary: ClassVar[bool] = False  # render gets the call summary in its context

    @abstractmethod
    def parse(self, kind: str, url: str, headers: Headers, body: bytes) -> Inbound:
        """Verify and parse one request of `kind`; raise BadRequest or Unauthorized.

        `url` is the absolute URL the gateway requested (public scheme and host, path and the
        query exactly as sent): some gateways sign it.
        """

    @abstractmethod
    def render(self, actions: Sequence[Action], context: RenderContext) -> Document: ...

    @abstractmethod
    def render_to_agent(self, context: RenderContext) -> Document:
        """A valid document that sends the caller to an agent (unknown or lost call)."""


MAX_CALL_ID = 128
_CALL_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_CALL_ID}}}")  # printable ASCII, no space


def call_id_of(value: object, field: str) -> str:
    """A gateway's call id, refused unless it is 1-128 printable ASCII characters.

    Call ids reach log lines, live views and CSV extracts: no control character (a newline
    would forge a record) and no unbounded length gets past the adapter.
    """
    if not isinstance(value, str) or not _CALL_ID.fullmatch(value):
        raise BadRequest(f"{field} must be 1-{MAX_CALL_ID} printable ASCII characters")
    return value
