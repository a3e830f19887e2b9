"""The OpenAPI 3.1 document of the step-up API, served at /step-ups/openapi.json.

Request schemas are the pydantic models the handlers validate with, answer schemas the models
the tests check answers against, so the document cannot drift from the code;
`python -m ivr.stepup.openapi docs/step-up-openapi.json` writes the committed copy.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ivr.callbacks.model import Problem
from ivr.stepup.api import AnswerRequest, RedeemRequest, StartRequest
from ivr.stepup.secure_sessions import SecureSessionRequest, Status


class StepUpView(BaseModel):
    """A challenge as the agent desktop sees it (never a code)."""

    id: str
    status: Literal["pending", "verified", "failed", "expired", "locked", "not_enrolled"]
    customer_id: str
    call_id: str | None
    method: Literal["totp", "sent"]
    audience: str
    tries: int
    created_at: float
    expires_at: float
    settled_at: float | None
    answered_by: Literal["app", "keypad"] | None
    validation_token: str | None = None  # verified, until used or expired


class AnswerReply(BaseModel):
    """What the app is told after an answer (never the token: it is the agent's)."""

    id: str
    status: str
    result: Literal["verified", "wrong", "failed", "expired", "locked", "not_enrolled"]
    tries_left: int


class SecureResult(BaseModel):
    """How a secure session's payment ended: never more of the card than its last four."""

    payment_outcome: Literal["paid", "declined", "cancelled", "error", "abandoned"]
    card_brand: str | None = None
    card_last4: str | None = None
    payment_reference: str | None = None


class SecureSessionView(BaseModel):
    """An agent-assisted payment as the agent desktop sees it."""

    call_id: str
    id: str
    status: Status
    amount: str
    currency: str
    reference: str | None
    route: str
    requested_at: float
    started_at: float | None
    ended_at: float | None
    result: SecureResult | None
    reason: str | None = None  # why a session `failed`
    delivery: Literal["pushed", "next_event"] | None = None  # in the answer to POST only


class RedeemReply(BaseModel):
    valid: bool
    reason: str | None = None
    step_up: str | None = None
    customer_id: str | None = None
    call_id: str | None = None
    result: str | None = None


OPENAPI_PATH = "/step-ups/openapi.json"
_REQUESTS = (StartRequest, AnswerRequest, RedeemRequest, SecureSessionRequest)
_MODELS: tuple[type[BaseModel], ...] = (
    *_REQUESTS,
    StepUpView,
    AnswerReply,
    RedeemReply,
    SecureSessionView,
    Problem,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _answer(description: str, model: type[BaseModel] = Problem) -> dict[str, Any]:
    kind = "application/problem+json" if model is Problem else "application/json"
    return {"description": description, "content": {kind: {"schema": _ref(model)}}}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_CALL_ID = {"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}
_AGENT: list[dict[str, list[str]]] = [{"agent": []}]
_CUSTOMER: list[dict[str, list[str]]] = [{"customer": []}]


def document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation" if m in _REQUESTS else "serialization") for m in _MODELS],
        ref_template="#/components/schemas/{model}",
    )
    unauthorised = _answer("no key or token, or a wrong one: nothing changed")
    unavailable = _answer("the step-up store or the code provider failed (shown in /readyz)")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ivr step-ups",
            "version": "1",
            "description": "Agent-initiated step-up: the customer answers with a one-time code "
            "in the app or by keypad; the agent desktop gets the result and a single-use, "
            "audience-bound validation token. Agent-assisted payment: the agent sends the "
            "caller into the IVR's payment step and gets the result, never the card. See "
            "docs/step-up-api.md.",
        },
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "agent": {"type": "http", "scheme": "bearer", "bearerFormat": "IVR_AGENT_KEY"},
                "customer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT of the company's login service (sub = customer id)",
                },
            },
        },
        "paths": {
            "/step-ups": {
                "post": {
                    "summary": "Start a step-up for a call or a customer",
                    "security": _AGENT,
                    "requestBody": _body(StartRequest),
                    "responses": {
                        "201": _answer("started (Location: /step-ups/{id})", StepUpView),
                        "401": unauthorised,
                        "404": _answer("no such call"),
                        "409": _answer("the call has no identified customer, or another one"),
                        "422": _answer("invalid body, or the customer cannot answer"),
                        "429": _answer("resend limit reached"),
                        "503": unavailable,
                    },
                }
            },
            "/step-ups/{id}": {
                "get": {
                    "summary": "The challenge, with its validation token once verified",
                    "security": _AGENT,
                    "parameters": [_ID],
                    "responses": {
                        "200": _answer("the challenge", StepUpView),
                        "401": unauthorised,
                        "404": _answer("no such step-up"),
                        "503": unavailable,
                    },
                }
            },
            "/step-ups/{id}/answer": {
                "post": {
                    "summary": "The customer answers in the app",
                    "security": _CUSTOMER,
                    "parameters": [_ID],
                    "requestBody": _body(AnswerRequest),
                    "responses": {
                        "200": _answer("checked", AnswerReply),
                        "401": unauthorised,
                        "404": _answer("no such step-up (also: another customer's)"),
                        "422": _answer("not a 6-digit code"),
                        "503": unavailable,
                    },
                }
            },
            "/calls/{call_id}/secure-session": {
                "post": {
                    "summary": "Send a caller who is with an agent into a card payment",
                    "description": "The caller is brought over at once where the gateway lets "
                    "the engine reach the call (Twilio's REST API: `delivery` is `pushed`), "
                    "else at the call's next gateway event (`next_event`); after the payment "
                    "they go back to the agent route with the result in the hand-off.",
                    "security": _AGENT,
                    "parameters": [_CALL_ID],
                    "requestBody": _body(SecureSessionRequest),
                    "responses": {
                        "201": _answer(
                            "pending (Location: /calls/{call_id}/secure-session)",
                            SecureSessionView,
                        ),
                        "400": _answer("the body is not JSON: nothing changed"),
                        "401": unauthorised,
                        "404": _answer("no such call"),
                        "409": _answer(
                            "the call has ended, is already in a secure session, is still in "
                            "the IVR or was handed on elsewhere than to an agent"
                        ),
                        "415": _answer("not application/json"),
                        "422": _answer("invalid body (amount, currency, route): nothing changed"),
                        "502": _answer("the gateway did not bring the caller over: `failed`"),
                        "503": _answer("the call state store failed (shown in /readyz)"),
                    },
                },
                "get": {
                    "summary": "The call's latest secure session, with its result once over",
                    "security": _AGENT,
                    "parameters": [_CALL_ID],
                    "responses": {
                        "200": _answer("the session", SecureSessionView),
                        "401": unauthorised,
                        "404": _answer("no such call, or no secure session on it"),
                        "503": _answer("the call state store failed (shown in /readyz)"),
                    },
                },
            },
            "/step-ups/tokens/verify": {
                "post": {
                    "summary": "Check a validation token for its audience, and spend it",
                    "security": _AGENT,
                    "requestBody": _body(RedeemRequest),
                    "responses": {
                        "200": _answer("valid: spent now", RedeemReply),
                        "401": _answer("refused (expired, wrong audience...)", RedeemReply),
                        "409": _answer("already used", RedeemReply),
                        "422": _answer("invalid body"),
                    },
                }
            },
        },
    }


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(document())


def main(argv: list[str]) -> int:
    text = json.dumps(document(), indent=2) + "\n"
    if argv:
        with open(argv[0], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
