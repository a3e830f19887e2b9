"""The OpenAPI 3.1 document of the app-facing API, served at /callbacks/openapi.json.

Schemas come from the pydantic models the handlers validate with, so the document cannot
drift from the code; `python -m ivr.callbacks.openapi docs/callbacks-openapi.json` writes it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ivr.callbacks.model import (
    Booking,
    CallbackList,
    CallbackView,
    Change,
    Problem,
    Slots,
    StandingSecret,
)

_MODELS: tuple[type[BaseModel], ...] = (
    Booking, Change, CallbackView, CallbackList, Slots, Problem, StandingSecret,
)  # fmt: skip


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(model)}}}


def _answer(description: str, model: type[BaseModel] | None = None) -> dict[str, Any]:
    if model is None:
        return {
            "description": description,
            "content": {"application/problem+json": {"schema": _ref(Problem)}},
        }
    return {"description": description, **_json(model)}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERRORS = {
    "401": _answer("no bearer token, or one that does not verify"),
    "404": _answer("no such callback (also: another customer's)"),
}


def document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation" if m in (Booking, Change, StandingSecret) else "serialization")
         for m in _MODELS],
        ref_template="#/components/schemas/{model}",
    )  # fmt: skip
    one = {
        "200": _answer("the callback (never its secret); ETag carries its version", CallbackView),
        **_ERRORS,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ivr callbacks",
            "version": "1",
            "description": "Callbacks booked from the company's app, with a secret read back "
            "to the customer when the company calls (reverse ID&V). See docs/callbacks.md.",
        },
        "security": [{"bearer": []}],
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT (HS256, RS256 or ES256; sub = customer id)",
                }
            },
        },
        "paths": {
            "/callbacks": {
                "post": {
                    "summary": "Book a callback",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "schema": {"type": "string", "maxLength": 128},
                            "description": "the same key and body give the first booking back"
                            " (header Idempotent-Replayed); another body is refused (422)",
                        }
                    ],
                    "requestBody": {"required": True, **_json(Booking)},
                    "responses": {
                        "201": _answer("booked (or replayed)", CallbackView),
                        "401": _ERRORS["401"],
                        "422": _answer(
                            "invalid body, window not served, a language the callback flow"
                            " does not speak, or key reused"
                        ),
                    },
                },
                "get": {
                    "summary": "The customer's callbacks, newest first",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "comma-separated statuses",
                        },
                        {
                            "name": "from",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "window start at or after (ISO date or time)",
                        },
                        {
                            "name": "to",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "window start before (ISO time; a date: its end)",
                        },
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],  # fmt: skip
                    "responses": {"200": _answer("callbacks", CallbackList), "401": _ERRORS["401"]},
                },
            },
            "/callbacks/slots": {
                "get": {
                    "summary": "Bookable slots of a queue on a local day (staffed hours only)",
                    "parameters": [
                        {
                            "name": "queue",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "date",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string", "format": "date"},
                        },
                    ],  # fmt: skip
                    "responses": {"200": _answer("slots", Slots), **_ERRORS},
                }
            },
            "/callbacks/{id}": {
                "get": {"summary": "One callback", "parameters": [_ID], "responses": one},
                "patch": {
                    "summary": "Reschedule, or change the number or the secret",
                    "parameters": [
                        _ID,
                        {
                            "name": "If-Match",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "the ETag read",
                        },
                    ],  # fmt: skip
                    "requestBody": {"required": True, **_json(Change)},
                    "responses": {
                        **one,
                        "409": _answer("dialling or ended: no longer changeable"),
                        "412": _answer("changed since read: read again"),
                        "422": _answer(
                            "invalid body, window not served, or a language the callback flow"
                            " does not speak"
                        ),
                        "428": _answer("If-Match missing"),
                    },
                },
            },
            "/callbacks/{id}/cancel": {
                "post": {
                    "summary": "Cancel (the secret is deleted)",
                    "parameters": [_ID],
                    "responses": {**one, "409": _answer("dialling or ended")},
                }
            },
            "/customers/me/secret": {
                "put": {
                    "summary": "Set the standing secret read on every call the company makes",
                    "requestBody": {"required": True, **_json(StandingSecret)},
                    "responses": {"200": {"description": "set"}, "401": _ERRORS["401"]},
                },
                "get": {
                    "summary": "Whether a standing secret is set (never the secret)",
                    "responses": {"200": {"description": "has_standing_secret"}},
                },
                "delete": {
                    "summary": "Delete the standing secret",
                    "responses": {"200": {"description": "deleted"}},
                },
            },  # fmt: skip
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
