"""The step-up API (docs/step-up-api.md): the agent desktop starts and reads challenges and
redeems validation tokens with the agent key; the customer's app answers with its bearer JWT
(the callback API's AppAuth). A malformed or unauthorised request gets a 4xx and changes
nothing; a store or provider that fails gets 503. No answer ever carries a code.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.callbacks.auth import AppAuth, Unauthorised
from ivr.callbacks.views import invalid, problem
from ivr.stepup.service import AlreadyUsed, StepUpRefused, StepUpService
from ivr.tokens import TokenError

CUSTOMER_ID = r"^[A-Za-z0-9_.\-]{1,64}$"
NO_STORE = {"Cache-Control": "no-store"}


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str | None = Field(None, pattern=CUSTOMER_ID)
    call_id: str | None = Field(None, min_length=1, max_length=128)
    method: Literal["totp", "sent"] = "totp"
    channel: Literal["sms", "push"] = "push"  # where a sent code goes (method sent)
    audience: str = Field("agent-desktop", pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
    reason: str | None = Field(None, max_length=200)


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[0-9]{6}$")


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=4096)
    audience: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


class Unavailable(Exception):
    """A dependency failed (the step-up store, the code provider): 503."""


@dataclass
class StepUpApi:
    """What the handlers need; the service opens at startup, so it is asked for per request.

    `customer_of_call` gives the customer a call identified (None: unknown call or nobody
    identified yet); `prepare` checks the customer can answer `method` and sends the code of
    a `sent` challenge, raising StepUpRefused (422/429) or Unavailable (503)."""

    service: Callable[[], StepUpService]
    agent_key: str
    app_auth: AppAuth | None
    customer_of_call: Callable[[str], Awaitable[tuple[bool, str | None]]]
    prepare: Callable[[str, str, str], Awaitable[None]]


API: web.AppKey[StepUpApi] = web.AppKey("step_up_api")


def agent_refusal(
    request: web.Request, agent_key: str, realm: str = "step-ups"
) -> web.Response | None:
    """None when the request carries the agent key (`IVR_AGENT_KEY`), else the 401 to send:
    the one check of every agent API."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    wanted = agent_key.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), wanted):
        response = problem(401, "unauthorised", "send Authorization: Bearer <agent key>")
        response.headers["WWW-Authenticate"] = f'Bearer realm="{realm}"'
        return response
    return None


def _agent(request: web.Request) -> web.Response | None:
    return agent_refusal(request, request.app[API].agent_key)


async def json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body is not JSON") from None


async def start(request: web.Request) -> web.StreamResponse:
    refused = _agent(request)
    if refused is not None:
        return refused
    api = request.app[API]
    try:
        body = StartRequest.model_validate(await json_body(request))
    except ValidationError as error:
        return invalid(error)
    customer = body.customer_id
    if body.call_id is not None:
        known, of_call = await api.customer_of_call(body.call_id)
        if not known:
            return problem(404, "no such call")
        if of_call is None:
            return problem(409, "the call has no identified customer")
        if customer is not None and customer != of_call:
            return problem(409, "the call's customer is another customer")
        customer = of_call
    if customer is None:
        return problem(422, "invalid request", "give customer_id or call_id")
    try:
        await api.prepare(customer, body.method, body.channel)
        step_up = await api.service().start(
            customer, body.call_id, body.method, body.audience, body.reason
        )
    except StepUpRefused as refusal:
        return problem(refusal.status, "step-up refused", str(refusal))
    except Unavailable as error:
        return problem(503, "step-up unavailable", str(error))
    except Exception as error:  # the store: never half-made, the agent may retry
        return problem(503, "step-up unavailable", type(error).__name__)
    view = api.service().view(step_up)
    headers = {"Location": f"/step-ups/{step_up.id}", **NO_STORE}
    return web.json_response(view, status=201, headers=headers)


async def read(request: web.Request) -> web.StreamResponse:
    refused = _agent(request)
    if refused is not None:
        return refused
    service = request.app[API].service()
    try:
        step_up = await service.current(request.match_info["id"])
    except Exception as error:
        return problem(503, "step-up unavailable", type(error).__name__)
    if step_up is None:
        return problem(404, "no such step-up")
    return web.json_response(service.view(step_up), headers=NO_STORE)


async def answer(request: web.Request) -> web.StreamResponse:
    api = request.app[API]
    if api.app_auth is None:
        return problem(404, "answering in the app is not configured")
    try:
        who = api.app_auth.identify(request.headers.get("Authorization"))
    except Unauthorised as error:
        response = problem(401, "unauthorised", str(error))
        response.headers["WWW-Authenticate"] = 'Bearer realm="step-ups"'
        return response
    try:
        body = AnswerRequest.model_validate(await json_body(request))
    except ValidationError as error:
        return invalid(error)
    service = api.service()
    try:
        step_up = await service.current(request.match_info["id"])
        if step_up is None or step_up.customer_id != who.customer_id:
            return problem(404, "no such step-up")  # another customer's: as if missing
        result = await service.answer(step_up, body.code, "app")
    except Exception as error:
        return problem(503, "step-up unavailable", type(error).__name__)
    if result.outcome == "error":
        return problem(503, "step-up unavailable", "the code could not be checked")
    left = max(service.policy.max_tries - result.step_up.tries, 0)
    status = result.outcome if result.outcome != "wrong" else "pending"
    reply = {"id": step_up.id, "status": status, "result": result.outcome, "tries_left": left}
    return web.json_response(reply, headers=NO_STORE)


async def redeem(request: web.Request) -> web.StreamResponse:
    refused = _agent(request)
    if refused is not None:
        return refused
    try:
        body = RedeemRequest.model_validate(await json_body(request))
    except ValidationError as error:
        return invalid(error)
    try:
        claims = await request.app[API].service().redeem(body.token, body.audience)
    except AlreadyUsed:
        return web.json_response({"valid": False, "reason": "already used"}, status=409)
    except TokenError as error:
        return web.json_response({"valid": False, "reason": error.reason}, status=401)
    except Exception as error:
        return problem(503, "step-up unavailable", type(error).__name__)
    reply = {
        "valid": True,
        "step_up": claims.get("step_up"),
        "customer_id": claims.get("sub"),
        "call_id": claims.get("call_id"),
        "result": claims.get("result"),
    }
    return web.json_response(reply, headers=NO_STORE)


def add_routes(app: web.Application, api: StepUpApi) -> None:
    from ivr.stepup.openapi import OPENAPI_PATH, openapi_handler

    app[API] = api
    if not any(r.resource and r.resource.canonical == OPENAPI_PATH for r in app.router.routes()):
        app.router.add_get(OPENAPI_PATH, openapi_handler)
    app.router.add_post("/step-ups", start)
    app.router.add_post("/step-ups/tokens/verify", redeem)
    app.router.add_get("/step-ups/{id}", read)
    app.router.add_post("/step-ups/{id}/answer", answer)
