"""Call progress from the gateways for a callback's attempt: POST /callbacks/dial-status/<gw>.

The URL carries the callback id and the dialler's keyed signature for that attempt (only this
server can make it), and each gateway's own signature is checked first, with the same checks
as its call webhooks: Twilio posts a form (CallStatus, AnsweredBy) signed `X-Twilio-Signature`;
jambonz JSON (call_status, or an AMD event type) signed `Jambonz-Signature` with
IVR_JAMBONZ_SECRET (several while rotating); the JSON protocol `{"status", "answered_by"}`
signed like the JSON webhook. A status without a valid signature is refused and changes no
callback: a leaked status URL alone cannot fail or complete someone's callback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping

from aiohttp import web

from ivr.adapters.base import Unauthorized
from ivr.adapters.jambonz import SIGNATURE_HEADER as JAMBONZ_SIGNATURE
from ivr.adapters.json_protocol import SIGNATURE_HEADER
from ivr.adapters.json_webhook import check_signature
from ivr.adapters.outbound import CALLBACK, SIGNATURE
from ivr.adapters.signatures import verify_jambonz, verify_twilio
from ivr.adapters.wire import parse_form
from ivr.callbacks.scheduler import Dispatcher
from ivr.callbacks.store import NotFound
from ivr.callbacks.views import problem

_AMD = {"amd_machine_detected": "machine_start", "amd_human_detected": "human"}


def _status(gateway: str, request_url: str, headers: Mapping[str, str], body: bytes,
            secrets: Mapping[str, str]) -> tuple[str, str | None]:  # fmt: skip
    """(call status, answered by) from one gateway's request; ValueError if unreadable."""
    if gateway == "twilio":
        params = parse_form(body.decode("utf-8"))
        token = secrets.get("twilio", "")
        if not verify_twilio(token, request_url, params, headers.get("X-Twilio-Signature")):
            raise PermissionError("X-Twilio-Signature")
        form = dict(params)
        return form.get("CallStatus", ""), form.get("AnsweredBy")
    if gateway == "json":
        try:
            check_signature(
                secrets.get("json", ""), headers.get(SIGNATURE_HEADER), body, time.time()
            )
        except Unauthorized:
            raise PermissionError(SIGNATURE_HEADER) from None
    if gateway == "jambonz":
        secrets_ = [part for part in secrets.get("jambonz", "").split(",") if part]
        if not verify_jambonz(secrets_, headers.get(JAMBONZ_SIGNATURE), body):
            raise PermissionError(JAMBONZ_SIGNATURE)
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError("not an object")
    if gateway == "jambonz":
        kind = payload.get("type")
        if isinstance(kind, str) and kind in _AMD:
            return "in-progress", _AMD[kind]
        return str(payload.get("call_status", "")), None
    answered = payload.get("answered_by")
    return str(payload.get("status", "")), answered if isinstance(answered, str) else None


def status_handler(
    dispatcher: Callable[[], Dispatcher], secrets: Mapping[str, str], public_url: str
) -> Callable[[web.Request], object]:
    base = public_url.rstrip("/")

    async def handle(request: web.Request) -> web.StreamResponse:
        gateway = request.match_info["gateway"]
        if gateway not in ("twilio", "jambonz", "json"):
            return problem(404, "no such gateway")
        body = await request.read()
        try:
            status, answered_by = _status(
                gateway, base + request.raw_path, request.headers, body, secrets
            )
        except PermissionError:
            return problem(403, "bad signature")
        except (ValueError, UnicodeDecodeError):
            return problem(400, "unreadable status")
        callback_id = request.query.get(CALLBACK, "")
        signature = request.query.get(SIGNATURE, "")
        try:
            ours = await dispatcher().call_status(callback_id, signature, status, answered_by)
        except NotFound:
            return problem(403, "not a callback of ours")
        if not ours:
            return problem(403, "not a callback attempt of ours")
        return web.Response(status=204)

    return handle
