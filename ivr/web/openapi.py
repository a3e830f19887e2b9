"""The OpenAPI 3.1 description of the JSON webhook protocol, served at `/openapi.json`.

Built from the protocol's pydantic models (ivr.adapters.json_protocol), the same ones that
parse the events, so the parser, the served document and docs/openapi.json (written by
`python -m ivr.web.openapi docs/openapi.json`, checked by a test) cannot disagree.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from ivr.adapters import json_protocol as protocol
from ivr.adapters.json_protocol import PROTOCOL_VERSION, SIGNATURE_HEADER

REF = "#/components/schemas/{model}"


class TokenRequest(BaseModel):
    """A visual IVR asks whether the token the call handed over is good."""

    token: Annotated[str, Field(min_length=1, max_length=4096)]


class TokenVerdict(BaseModel):
    """`valid` with the token's claims, or why it was refused."""

    valid: bool
    reason: (
        Literal["expired", "tampered", "wrong_audience", "replayed", "invalid", "malformed_request"]
        | None
    ) = None
    claims: dict[str, Any] | None = None


def _schema(
    name: str, adapter: TypeAdapter[Any], mode: JsonSchemaMode, schemas: dict[str, Any]
) -> dict[str, str]:
    """A reference to `adapter`'s JSON Schema, put into `schemas` (the components) as `name`
    with the definitions it uses."""
    schema = adapter.json_schema(ref_template=REF, mode=mode)
    schemas.update(schema.pop("$defs", {}))
    schemas.setdefault(name, schema)
    return {"$ref": REF.format(model=name)}


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, from the protocol's pydantic models."""
    schemas: dict[str, Any] = {}
    event = _schema("Event", protocol.EVENTS, "validation", schemas)
    answer = _schema("Answer", protocol.ANSWERS, "serialization", schemas)
    error = _schema("Error", TypeAdapter(protocol.Error), "serialization", schemas)
    token = _schema("TokenRequest", TypeAdapter(TokenRequest), "validation", schemas)
    verdict = _schema("TokenVerdict", TypeAdapter(TokenVerdict), "serialization", schemas)
    refused = "Missing, malformed, stale or wrong signature; no call changed"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "IVR JSON webhook",
            "version": PROTOCOL_VERSION,
            "description": "Events in, actions out. See docs/json-webhook.md.",
        },
        "paths": {
            "/json/events": {
                "post": {
                    "summary": "Deliver one call event; get the actions to perform",
                    "description": "A redelivery (same call_id and event_id) gets the answer "
                    "the event first got and changes nothing.",
                    "security": [{"signature": []}],
                    "requestBody": {"required": True, "content": _json(event)},
                    "responses": {
                        "200": {
                            "description": "Actions to perform, in order, and the call summary",
                            "content": _json(answer),
                        },
                        "400": {
                            "description": "Malformed event; no call changed",
                            "content": _json(error),
                        },
                        "403": {"description": refused, "content": _json(error)},
                        "413": {
                            "description": "Body larger than the limit (64 KiB)",
                            "content": _json(error),
                        },
                    },
                }
            },
            "/idv/tokens/verify": {
                "post": {
                    "summary": "Check a visual-IVR token (accepted once by default)",
                    "requestBody": {"required": True, "content": _json(token)},
                    "responses": {
                        "200": {"description": "valid, with its claims", "content": _json(verdict)},
                        "400": {"description": "malformed_request", "content": _json(verdict)},
                        "401": {
                            "description": "expired, tampered, wrong_audience or invalid",
                            "content": _json(verdict),
                        },
                        "409": {"description": "replayed", "content": _json(verdict)},
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": SIGNATURE_HEADER,
                    "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + '.' + "
                    "raw body)>; refused more than 300 s from the server's clock",
                }
            },
            "schemas": schemas,
        },
    }


def text() -> str:
    """The document as committed in docs/openapi.json."""
    return json.dumps(document(), indent=2) + "\n"


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(document())


def main(argv: list[str] | None = None) -> int:
    """`python -m ivr.web.openapi [FILE]`: write the document (stdout without FILE);
    `--check FILE`: exit 1 when FILE is not what the models give (stale)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--check"]:
        with open(args[1], encoding="utf-8") as committed:
            if committed.read() == text():
                return 0
        print(f"{args[1]} is stale: run python -m ivr.web.openapi {args[1]}", file=sys.stderr)
        return 1
    if args:
        with open(args[0], "w", encoding="utf-8") as out:
            out.write(text())
    else:
        sys.stdout.write(text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
