"""What every gateway adapter provides: one file per gateway, translation only.

An adapter turns a gateway's HTTP request into a core `CallEvent` and the engine's `Action`s
back into the gateway's document. It verifies the gateway's signature. It never decides
anything about the call: the server core loads the call, drops duplicates, runs the engine
and saves the call; the adapter only speaks the wire format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from ivr.engine.actions import Action, PromptRef
from ivr.engine.events import CallEvent


class BadRequest(Exception):
    """Malformed request: answered 400, changes no call."""


class Unauthorized(Exception):
    """Missing or wrong signature: answered 403, changes no call."""


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


class Adapter(Protocol):
    name: str  # URL prefix too: the server mounts `paths` under /<name>/
    paths: tuple[str, ...]  # e.g. ("voice", "gather", "status"): every POST goes to `parse`

    async def parse(self, request: web.Request, body: bytes) -> Inbound:
        """Verify and parse; raise BadRequest or Unauthorized."""
        ...

    def render(self, actions: Sequence[Action], context: RenderContext) -> web.Response: ...

    def render_to_agent(self, context: RenderContext) -> web.Response:
        """A valid document that sends the caller to an agent (unknown or lost call)."""
        ...
