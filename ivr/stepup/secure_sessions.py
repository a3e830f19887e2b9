"""The agent's secure-session API (docs/step-up-api.md, "Secure payments"): an agent who has a
caller asks for a card payment the caller keys in to the IVR, and gets the result; the agent
never hears a digit.

`POST /calls/{id}/secure-session` puts a pending session on the call under the call's lock and
lease (ivr.calls.CallPipeline.amend), so it cannot race the call's own webhooks; then, where
the gateway lets the engine reach a call (Twilio's REST API), the caller is brought over at
once, else at the call's next gateway event. `GET` shows where it stands and, once over, the
result. Bad requests are 4xx and change no call.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from ivr.callbacks.views import invalid, problem
from ivr.calls import Amended, CallPipeline
from ivr.config import AppConfig, ConfigError, RouteKind
from ivr.engine import secure_session
from ivr.engine.secure_session import Refused, SecureRequest
from ivr.engine.state import CallState
from ivr.engine.turn import Turn
from ivr.payments.amounts import AmountError, from_minor, to_minor
from ivr.sessions.base import SessionError
from ivr.stepup.api import NO_STORE, agent_refusal, json_body
from ivr.stepup.twilio_redirect import RedirectFailed, TwilioRedirect

_log = logging.getLogger(__name__)
PATH = "/calls/{call_id}/secure-session"
REALM = "secure-sessions"
_DIGIT_RUN = re.compile(r"\d{7}")  # longer than any amount or date: could be part of a card
_SEPARATORS = re.compile(r"[\W_]")  # what may be typed between a card's digits: 4111.1111/...


def _holds_card_digits(value: str) -> bool:
    """A run of 7 digits once separators (spaces, dots, slashes, dashes of any kind) are gone."""
    return _DIGIT_RUN.search(_SEPARATORS.sub("", value)) is not None


class SecureSessionRequest(BaseModel):
    """What the agent asks for. The description goes to the processor with the charge, so it
    may not hold a run of 7 digits (a card number pasted by mistake never travels)."""

    model_config = ConfigDict(extra="forbid")
    amount: StrictStr | StrictInt | StrictFloat = Field(
        description='in the currency\'s major unit: 49.99 or "49.99"'
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")
    reference: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.:/#-]{1,64}$", description="the agent's own reference"
    )
    description: str | None = Field(None, min_length=1, max_length=120)
    route: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="the agent route the caller goes back to (default: the one they came by)",
    )

    @field_validator("description", "reference")
    @classmethod
    def _no_card(cls, value: str | None) -> str | None:
        if value is not None and (_holds_card_digits(value) or not value.isprintable()):
            raise ValueError("no runs of 7 or more digits, no control characters")
        return value


@dataclass
class SecureSessionApi:
    """What the handlers need; the pipeline and engine open at startup, so they are asked for
    per request. `redirect` reaches Twilio calls (None: not configured); `notify` is told of
    each session that ends (the agent desktop's webhook)."""

    agent_key: str
    pipeline: Callable[[], CallPipeline]
    config: Callable[[], AppConfig]
    clock: Callable[[], float] = time.time
    redirect: TwilioRedirect | None = None
    public_url: str | None = None
    notify: Callable[[dict[str, Any]], None] | None = None

    def settled(self, call_id: str, session: dict[str, Any]) -> None:
        extra = {"call_id": call_id, "secure_session": session["id"], "result": session["status"]}
        _log.info("secure session ended", extra=extra)
        if self.notify is not None:
            self.notify(secure_session.view(call_id, session))


SECURE_API: web.AppKey[SecureSessionApi] = web.AppKey("secure_session_api")


def _return_route(config: AppConfig, state: CallState, asked: str | None) -> str:
    """The route the caller goes back to: the one asked for, else the one they came by; an
    agent route of the call's service line."""
    name = asked or (state.route or {}).get("name") or ""
    try:
        resolved, route = config.resolve_route(name, config.service_line(state.service_line))
    except ConfigError:
        raise Refused(422, f"no route {name!r}") from None
    if route.kind is not RouteKind.AGENT:
        raise Refused(422, f"route {name!r} is not an agent route")
    return resolved


async def start(request: web.Request) -> web.StreamResponse:
    api = request.app[SECURE_API]
    refused = agent_refusal(request, api.agent_key, REALM)
    if refused is not None:
        return refused
    call_id = request.match_info["call_id"]
    try:
        body = SecureSessionRequest.model_validate(await json_body(request))
    except ValidationError as error:
        return invalid(error)
    try:
        amount = from_minor(to_minor(body.amount, body.currency), body.currency)
    except AmountError as error:
        return problem(422, "invalid request", str(error))
    config = api.config()

    async def change(state: CallState | None) -> Amended[dict[str, Any]]:
        secure_session.check_startable(state)
        assert state is not None
        if state.gateway == "twilio" and (api.redirect is None or not api.public_url):
            # nothing would bring the caller over (<Enqueue> calls us back for nothing), and
            # the redirect URL is never taken from the request's Host header
            raise Refused(
                409,
                "a Twilio call is brought over by Twilio's REST API: set the account"
                " (IVR_TWILIO_ACCOUNT_SID) and the server's public URL (--public-url)",
            )
        route = _return_route(config, state, body.route)
        asked = SecureRequest(amount, body.currency, route, body.reference, body.description)
        turn = Turn(state, clock=api.clock)
        session = secure_session.request_session(turn, asked, api.clock())
        return Amended(secure_session.view(call_id, session), state, turn.records)

    pipeline = api.pipeline()
    try:
        amended = await pipeline.amend(call_id, change)
    except Refused as refusal:
        return problem(refusal.status, "secure session refused", refusal.message)
    except SessionError as error:
        return problem(503, "call state unavailable", type(error).__name__)
    view = amended.answer
    gateway = amended.state.gateway if amended.state is not None else ""
    view["delivery"] = "next_event"
    if gateway == "twilio" and api.redirect is not None and api.public_url:
        # the session's id in the URL: Twilio signs the URL and the same form fields, so a
        # second session's redirect would otherwise be taken for a redelivery of the first's
        url = (
            f"{api.public_url.rstrip('/')}/twilio/gather?event=secure_session&session={view['id']}"
        )
        try:
            await api.redirect.redirect(call_id, url)
        except RedirectFailed as error:
            return await _push_failed(api, pipeline, call_id, view["id"], error.reason)
        view["delivery"] = "pushed"
    extra = {"call_id": call_id, "secure_session": view["id"], "delivery": view["delivery"]}
    _log.info("secure session requested", extra=extra)
    headers = {"Location": f"/calls/{call_id}/secure-session", **NO_STORE}
    return web.json_response(view, status=201, headers=headers)


async def _push_failed(
    api: SecureSessionApi, pipeline: CallPipeline, call_id: str, session_id: str, reason: str
) -> web.StreamResponse:
    """The gateway would not bring the caller over: the session ends as `failed` (the agent
    may ask again) and the agent gets 502."""
    _log.warning("secure session: the gateway refused the redirect (%s)", reason)

    async def change(state: CallState | None) -> Amended[dict[str, Any] | None]:
        if state is None:
            return Amended(None)
        turn = Turn(state, clock=api.clock)
        if not secure_session.fail_session(turn, session_id, reason, api.clock()):
            return Amended(None)  # the caller came over after all, or the call ended
        assert state.secure is not None
        return Amended(secure_session.view(call_id, state.secure), state, turn.records)

    try:
        amended = await pipeline.amend(call_id, change)
    except SessionError as error:
        return problem(503, "call state unavailable", type(error).__name__)
    if amended.answer is None:
        return await read_view(api, pipeline, call_id, status=201)
    api.settled(call_id, amended.answer)
    return problem(502, "the gateway did not bring the caller over", reason, session=amended.answer)


async def read(request: web.Request) -> web.StreamResponse:
    api = request.app[SECURE_API]
    refused = agent_refusal(request, api.agent_key, REALM)
    if refused is not None:
        return refused
    return await read_view(api, api.pipeline(), request.match_info["call_id"])


async def read_view(
    api: SecureSessionApi, pipeline: CallPipeline, call_id: str, status: int = 200
) -> web.StreamResponse:
    try:
        data = await pipeline.store.get(call_id)
    except SessionError as error:
        return problem(503, "call state unavailable", type(error).__name__)
    if data is None:
        return problem(404, "no such call")
    session = data.get("secure")
    if not isinstance(session, dict):
        return problem(404, "no secure session on this call")
    return web.json_response(secure_session.view(call_id, session), status=status, headers=NO_STORE)


def add_routes(app: web.Application, api: SecureSessionApi) -> None:
    from ivr.stepup.openapi import OPENAPI_PATH, openapi_handler

    app[SECURE_API] = api
    app.router.add_post(PATH, start)
    app.router.add_get(PATH, read)
    if not any(r.resource and r.resource.canonical == OPENAPI_PATH for r in app.router.routes()):
        app.router.add_get(OPENAPI_PATH, openapi_handler)


Status = Literal[
    "pending", "active", "paid", "declined", "cancelled", "error", "abandoned", "failed"
]
