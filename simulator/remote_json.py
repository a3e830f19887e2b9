"""A call driver over HTTP speaking our JSON webhook protocol (docs/json-webhook.md).

Every event is signed with `IVR_WEBHOOK_SECRET` (or the secret given) as a real client
would sign it; the answer's actions are read back into the engine's vocabulary, and the
`call` summary each answer carries is what `summary()` reports, flow version included.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from ivr.adapters.json_protocol import SIGNATURE_HEADER
from ivr.adapters.json_webhook import signature
from ivr.engine.actions import Action, CollectDigits, Hangup, Play, PromptRef, RouteKind, Transfer
from ivr.settings import Settings, load_settings
from simulator.driver import CallSummary

SECRET_ENV = "IVR_WEBHOOK_SECRET"


class RemoteError(Exception):
    """The server refused an event or answered something that is not the protocol."""


class JsonDriver:
    def __init__(
        self,
        url: str,
        secret: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/json/events"
        if secret is None:
            secret = Settings.reveal(load_settings().webhook_secret) or ""
        self._secret = secret
        if not self._secret:
            raise RemoteError(f"set {SECRET_ENV} to the server's webhook secret")
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.call_id: str | None = None
        self.call: dict[str, Any] | None = None
        self._events = 0

    async def start(
        self, call_id: str, ani: str | None, dnis: str | None, trust: str
    ) -> Sequence[Action]:
        self.call_id = call_id or uuid.uuid4().hex
        return await self._send(
            {"type": "call.started", "ani": ani, "dnis": dnis, "caller_id_trust": trust}
        )

    async def press(self, digits: str) -> Sequence[Action]:
        ended_by_key = bool(digits) and not digits[-1].isdigit()
        terminated_by = "term_key" if ended_by_key else "max_digits"
        return await self._send(
            {"type": "digits", "digits": digits, "terminated_by": terminated_by}
        )

    async def no_input(self) -> Sequence[Action]:
        return await self._send({"type": "no_input"})

    async def hang_up(self) -> Sequence[Action]:
        return await self._send({"type": "hangup"})

    async def summary(self) -> CallSummary:
        call = self.call or {}
        return CallSummary(
            flow=str(call.get("flow", "")),
            flow_version=str(call.get("flow_version", "")),
            idv_status=call.get("idv_status"),
            customer_id=call.get("customer_id"),
            attempts=dict(call.get("attempts") or {}),
        )

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _send(self, event: dict[str, Any]) -> Sequence[Action]:
        if self.call_id is None:
            raise RemoteError("the call has not been started")
        self._events += 1
        doc = {"event_id": f"{self._events}", "call_id": self.call_id, **event}
        body = json.dumps(doc, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body, int(time.time())),
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(self.endpoint, data=body, headers=headers) as response:
            text = await response.text()
            if response.status != 200:
                raise RemoteError(f"server answered {response.status}: {text[:200]}")
        answer = json.loads(text)
        if answer.get("call") is not None:
            self.call = answer["call"]
        return [to_action(item) for item in answer.get("actions", [])]


def _prompts(items: Sequence[Mapping[str, Any]]) -> tuple[PromptRef, ...]:
    return tuple(
        PromptRef(prompt_id=p["id"], text=p.get("text", ""), audio=p.get("audio_url"))
        for p in items
    )


def to_action(item: Mapping[str, Any]) -> Action:
    """One JSON action back into the engine's vocabulary."""
    kind = item.get("type")
    if kind == "play":
        return Play(_prompts(item["prompts"]), bool(item.get("barge_in", True)))
    if kind == "collect":
        return CollectDigits(
            prompts=_prompts(item["prompts"]),
            min_digits=int(item["min_digits"]),
            max_digits=int(item["max_digits"]),
            term_key=item.get("term_key"),
            timeout_s=float(item["timeout_s"]),
            inter_digit_timeout_s=float(item.get("inter_digit_timeout_s", 0.0)),
            barge_in=bool(item.get("barge_in", True)),
            dont_have_key=item.get("dont_have_key"),
            step=str(item.get("step", "")),
            attempt=int(item.get("attempt", 1)),
            secure=bool(item.get("secure", False)),
        )
    if kind == "transfer":
        return Transfer(
            RouteKind(item["kind"]), item["target"], item.get("route", ""), item.get("handoff", {})
        )
    if kind == "hangup":
        return Hangup(item.get("reason", "flow"))
    raise RemoteError(f"unknown action type {kind!r}")
