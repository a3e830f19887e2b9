"""A jambonz stand-in for callbacks: its REST createCall (`POST /v1/Accounts/{sid}/Calls`,
bearer API key) and, for each call created, what its feature server then does: POST the
`call_hook` (signed `Jambonz-Signature`, JSON as jambonz sends), run the verbs (`say` heard,
a `redirect` after a play followed, the first `gather` answered with the callee's keys, the
`tag` read as the hand-off, `dial`/`enqueue`/`hangup` ending the script), then POST the
`call_status_hook` with `completed`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp import web

from ivr.adapters.jambonz import SIGNATURE_HEADER
from ivr.adapters.signatures import jambonz_header
from simulator.remote_jambonz import call_payload


@dataclass
class JambonzCall:
    created: dict[str, Any]
    heard: list[str] = field(default_factory=list)
    verbs: list[dict[str, Any]] = field(default_factory=list)
    handoff: dict[str, Any] | None = None
    statuses: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class JambonzFake:
    def __init__(self, account_sid: str, api_key: str, secret: str, keys: str) -> None:
        self.account_sid, self.api_key, self.secret, self.keys = account_sid, api_key, secret, keys
        self.calls: list[JambonzCall] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = web.Application()
        self.app.router.add_post("/v1/Accounts/{sid}/Calls", self._create)

    async def _create(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"msg": "unauthorized"}, status=401)
        if request.match_info["sid"] != self.account_sid:
            return web.json_response({"msg": "no such account"}, status=404)
        call = JambonzCall(await request.json())
        self.calls.append(call)
        sid = str(uuid.uuid4())
        task = asyncio.create_task(self._play(call, sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"sid": sid}, status=201)

    async def _post(self, http: aiohttp.ClientSession, url: str, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: jambonz_header(self.secret, int(time.time()), body),
        }
        async with http.post(url, data=body, headers=headers) as response:
            text = await response.text()
            return response.status, text

    async def _play(self, call: JambonzCall, sid: str) -> None:
        created = call.created
        payload = call_payload(sid, created["from"], created["to"]["number"], "unknown")
        payload.update(direction="outbound", call_status="in-progress")
        try:
            async with aiohttp.ClientSession() as http:
                hook: str | None = created["call_hook"]["url"]
                step: dict[str, Any] = payload
                for _ in range(20):
                    if hook is None:
                        break
                    status, text = await self._post(http, hook, step)
                    assert status == 200, text
                    hook, step = self._run(call, hook, json.loads(text), payload)
                status, _ = await self._post(
                    http,
                    created["call_status_hook"]["url"],
                    {**payload, "call_status": "completed"},
                )
                call.statuses.append(status)
        finally:
            call.done.set()

    def _run(
        self, call: JambonzCall, base: str, verbs: list[dict[str, Any]], payload: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        """Run one verb array; the next hook to POST (None: the script ended) and its body."""
        for verb in verbs:
            call.verbs.append(verb)
            name = verb.get("verb")
            if name == "say":
                call.heard.append(str(verb.get("text", "")))
            elif name == "tag":
                call.handoff = dict((verb.get("data") or {}).get("handoff") or {})
            elif name == "redirect":
                return urljoin(base, str(verb["actionHook"])), payload
            elif name == "gather":
                if "say" in verb:
                    call.heard.append(str(verb["say"].get("text", "")))
                hook = urljoin(base, str(verb["actionHook"]))
                return hook, {**payload, "reason": "dtmfDetected", "digits": self.keys}
            elif name in ("dial", "enqueue", "hangup"):
                return None, payload
        return None, payload

    async def settle(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
