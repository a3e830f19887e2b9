"""A loopback Twilio: the REST Calls resource and a scripted callee, to Twilio's documented
wire format (api/2010-04-01 Calls.json; voice webhooks signed with X-Twilio-Signature).

`POST /2010-04-01/Accounts/{AccountSid}/Calls.json` (HTTP basic auth AccountSid:AuthToken,
form-encoded To, From, Url, Method, StatusCallback, StatusCallbackEvent, Timeout,
MachineDetection) answers 201 with the call resource, then "places" the call: the callee
answers (or not), Twilio requests Url with the call's parameters (AnsweredBy when machine
detection was asked), reads the TwiML (<Say>, <Play>, <Gather>, <Redirect>, <Enqueue>,
<Hangup>), presses the callee's keys at each <Gather>, and posts the status callbacks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator


@dataclass
class Callee:
    """How the person called behaves: answers or not, who answers, the keys they press."""

    answers: bool = True
    answered_by: str = "human"
    keys: list[str] = field(default_factory=lambda: ["1"])


@dataclass
class PlacedCall:
    sid: str
    form: dict[str, str]
    heard: list[str] = field(default_factory=list)
    voices: set[str] = field(default_factory=set)  # the language of every <Say>
    handoff: dict[str, Any] | None = None
    enqueued: str | None = None  # the queue named by <Enqueue>
    dialled: str | None = None  # what <Dial> reached (a <Sip> URI, or its text)
    documents: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class TwilioFake:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self.callees: list[Callee] = []  # one per call placed, in order (default: answers, 1)
        self.calls: list[PlacedCall] = []
        self.refusals: list[int] = []  # statuses to answer the next create requests with
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = web.Application()
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self.create)

    async def create(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status=401
            )
        if request.match_info["sid"] != self.account_sid:
            return web.json_response(
                {"code": 20404, "message": "not found", "status": 404}, status=404
            )
        form = dict((await request.post()).items())
        for name in ("To", "From", "Url"):
            if not form.get(name):
                return web.json_response(
                    {"code": 21201, "message": f"No '{name}' number is specified", "status": 400},
                    status=400,
                )
        if self.refusals:
            status = self.refusals.pop(0)
            return web.json_response(
                {"code": 20500, "message": "error", "status": status}, status=status
            )
        sid = "CA" + secrets.token_hex(16)
        call = PlacedCall(sid, {k: str(v) for k, v in form.items()})
        self.calls.append(call)
        callee = self.callees.pop(0) if self.callees else Callee()
        task = asyncio.create_task(self._place(call, callee))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        body = {
            "sid": sid, "account_sid": self.account_sid, "to": form["To"], "from": form["From"],
            "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
            "date_created": None, "date_updated": None, "start_time": None, "end_time": None,
            "duration": None, "price": None, "price_unit": "USD", "answered_by": None,
            "caller_name": None, "forwarded_from": None, "group_sid": None, "parent_call_sid": None,
            "phone_number_sid": None, "queue_time": "0", "trunk_sid": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
            "subresource_uris": {},
        }  # fmt: skip
        return web.json_response(body, status=201)

    # -- the call, as Twilio runs it -------------------------------------------------------

    def _params(self, call: PlacedCall, status: str, callee: Callee) -> dict[str, str]:
        params = {
            "CallSid": call.sid, "AccountSid": self.account_sid, "From": call.form["From"],
            "To": call.form["To"], "CallStatus": status, "Direction": "outbound-api",
            "ApiVersion": "2010-04-01", "Called": call.form["To"], "Caller": call.form["From"],
        }  # fmt: skip
        if call.form.get("MachineDetection") and status != "ringing":
            params["AnsweredBy"] = callee.answered_by
        return params

    async def _post(self, session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> str:
        headers = {"X-Twilio-Signature": self.validator.compute_signature(url, params)}
        async with session.post(url, data=params, headers=headers) as response:
            text = await response.text()
            return (
                text
                if response.status == 200
                else f'<Error status="{response.status}">{text}</Error>'
            )

    async def _status(self, session: aiohttp.ClientSession, call: PlacedCall, status: str,
                      callee: Callee) -> None:  # fmt: skip
        url = call.form.get("StatusCallback")
        if url:
            headers_params = self._params(call, status, callee)
            sig = self.validator.compute_signature(url, headers_params)
            async with session.post(
                url, data=headers_params, headers={"X-Twilio-Signature": sig}
            ) as r:
                call.statuses.append(r.status)

    async def _place(self, call: PlacedCall, callee: Callee) -> None:
        async with aiohttp.ClientSession() as session:
            try:
                await self._status(session, call, "initiated", callee)
                if not callee.answers:
                    await self._status(session, call, "no-answer", callee)
                    return
                await self._status(session, call, "answered", callee)
                keys = list(callee.keys)
                document = await self._post(
                    session, call.form["Url"], self._params(call, "in-progress", callee)
                )
                for _ in range(20):
                    call.documents.append(document)
                    next_request = self._run(call, document, keys)
                    if next_request is None:
                        break
                    url, extra = next_request
                    params = {**self._params(call, "in-progress", callee), **extra}
                    document = await self._post(session, url, params)
                await self._status(session, call, "completed", callee)
            finally:
                call.done.set()

    def _run(
        self, call: PlacedCall, document: str, keys: list[str]
    ) -> tuple[str, dict[str, str]] | None:
        """Run one TwiML document; the next request Twilio would make, or None at the end."""
        root = ET.fromstring(document)
        for verb in root:
            if verb.tag == "Say":
                call.heard.append((verb.text or "").strip())
                call.voices.add(verb.get("language", ""))
            elif verb.tag == "Play":
                call.heard.append(f"[play {verb.text}]")
            elif verb.tag == "Gather":
                for inner in verb:
                    if inner.tag == "Say":
                        call.heard.append((inner.text or "").strip())
                        call.voices.add(inner.get("language", ""))
                if keys:
                    return verb.get("action", ""), {"Digits": keys.pop(0)}
                continue  # no input: Twilio goes on with the next verb
            elif verb.tag == "Redirect":
                return (verb.text or "").strip(), {}
            elif verb.tag == "Enqueue":
                task = verb.find("Task")
                call.handoff = json.loads(task.text or "{}") if task is not None else {}
                call.enqueued = (verb.text or "").strip() or verb.get("workflowSid")
                return None
            elif verb.tag == "Dial":
                sip = verb.find("Sip")
                call.dialled = ((sip.text if sip is not None else verb.text) or "").strip()
                return None
            elif verb.tag in ("Hangup", "Reject"):
                return None
        return None

    async def settle(self) -> None:
        for task in list(self._tasks):
            await task
