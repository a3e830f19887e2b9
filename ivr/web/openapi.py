"""The OpenAPI 3.1 description of the JSON webhook protocol, served at `/openapi.json`.

Built from data here so the served document and docs/openapi.json (written by
`python -m ivr.web.openapi docs/openapi.json`) never disagree.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aiohttp import web

from ivr.adapters.json_webhook import EVENT_TYPES, PROTOCOL_VERSION, SIGNATURE_HEADER

_ID = {"type": "string", "pattern": "^[A-Za-z0-9._:@+-]{1,128}$"}
_TEXT = {"type": ["string", "null"], "maxLength": 64}


def _event(kind: str, extra: dict[str, Any], required: list[str], about: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": about,
        "required": ["type", "event_id", "call_id", *required],
        "properties": {
            "type": {"const": kind},
            "event_id": {**_ID, "description": "unique per event; a redelivery repeats it"},
            "call_id": _ID,
            **extra,
        },
    }


_EVENTS = {
    "CallStarted": _event(
        "call.started",
        {
            "ani": {**_TEXT, "description": "calling number, E.164; null when withheld"},
            "dnis": {**_TEXT, "description": "number called: picks the service line"},
            "caller_id_trust": {"enum": ["A", "B", "C", "failed", "unknown"], "default": "unknown"},
        },
        [],
        "A new call. ANI never verifies a caller on its own.",
    ),
    "Digits": _event(
        "digits",
        {
            "digits": {"type": "string", "pattern": "^[0-9*#]{0,64}$"},
            "terminated_by": {
                "enum": ["term_key", "max_digits", "inter_digit_timeout"],
                "default": "term_key",
            },
        },
        ["digits"],
        "Keys collected for the last `collect` action, terminator included if pressed.",
    ),
    "NoInput": _event("no_input", {}, [], "The collect timed out with no key."),
    "Hangup": _event("hangup", {}, [], "The caller hung up."),
    "PromptFinished": _event("prompt_finished", {}, [], "A play-only action ended."),
    "TransferResult": _event(
        "transfer_result",
        {"result": {"type": "string", "maxLength": 64}},
        ["result"],
        "How a transfer went (answered, busy, failed...).",
    ),
}

_PROMPTS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "text"],
        "properties": {
            "id": {"type": "string"},
            "text": {"type": "string", "description": "speak this when there is no audio"},
            "audio_url": {"type": ["string", "null"], "format": "uri"},
        },
    },
}

_ACTIONS = {
    "Play": {
        "type": "object",
        "required": ["type", "prompts"],
        "properties": {
            "type": {"const": "play"},
            "prompts": _PROMPTS,
            "barge_in": {"type": "boolean"},
        },
    },
    "Collect": {
        "type": "object",
        "description": "Play the prompts and collect keys; answer with `digits` or `no_input`.",
        "required": ["type", "prompts", "min_digits", "max_digits", "timeout_s"],
        "properties": {
            "type": {"const": "collect"},
            "prompts": _PROMPTS,
            "min_digits": {"type": "integer"},
            "max_digits": {"type": "integer"},
            "term_key": {"type": ["string", "null"]},
            "timeout_s": {"type": "number"},
            "inter_digit_timeout_s": {"type": "number"},
            "barge_in": {"type": "boolean"},
            "dont_have_key": {"type": ["string", "null"]},
            "step": {"type": "string"},
            "attempt": {"type": "integer"},
        },
    },
    "Transfer": {
        "type": "object",
        "required": ["type", "kind", "target", "route", "handoff"],
        "properties": {
            "type": {"const": "transfer"},
            "kind": {"enum": ["agent", "self_service", "main_menu", "flow"]},
            "target": {"type": "string"},
            "route": {"type": "string"},
            "handoff": {"type": "object", "description": "data attached for the agent"},
        },
    },
    "Hangup": {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"const": "hangup"}, "reason": {"type": "string"}},
    },
}

_CALL = {
    "type": ["object", "null"],
    "description": "Where the call stands after this event (null for an unknown call).",
    "properties": {
        "idv_status": {"type": ["string", "null"]},
        "customer_id": {"type": ["string", "null"]},
        "attempts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "flow": {"type": "string"},
        "flow_version": {"type": "string"},
        "ended": {"type": "boolean"},
        "route": {"type": ["object", "null"]},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def document() -> dict[str, Any]:
    error = {"type": "object", "properties": {"error": {"type": "string"}}}
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
                    "security": [{"signature": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Event")}},
                    },
                    "responses": {
                        "200": {
                            "description": "Actions to perform, in order, and the call summary",
                            "content": {"application/json": {"schema": _ref("Answer")}},
                        },
                        "400": {"description": "Malformed event; no call changed"},
                        "403": {"description": "Missing, bad or stale signature; no call changed"},
                        "413": {"description": "Body larger than the limit (64 KiB)"},
                    },
                }
            },
            "/idv/tokens/verify": {
                "post": {
                    "summary": "Check a visual-IVR token (accepted once by default)",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["token"],
                                    "properties": {"token": {"type": "string"}},
                                }
                            }
                        }
                    },
                    "responses": {
                        "200": {"description": "{valid: true, claims}"},
                        "400": {"description": "{valid: false, reason: malformed_request}"},
                        "401": {"description": "expired, tampered, wrong_audience or invalid"},
                        "409": {"description": "{valid: false, reason: replayed}"},
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
            "schemas": {
                "Event": {
                    "oneOf": [_ref(name) for name in _EVENTS],
                    "discriminator": {"propertyName": "type"},
                    "x-event-types": list(EVENT_TYPES),
                },
                **_EVENTS,
                "Action": {"oneOf": [_ref(name) for name in _ACTIONS]},
                **_ACTIONS,
                "Answer": {
                    "type": "object",
                    "required": ["protocol", "call_id", "actions", "call"],
                    "properties": {
                        "protocol": {"const": PROTOCOL_VERSION},
                        "call_id": {"type": "string"},
                        "actions": {"type": "array", "items": _ref("Action")},
                        "call": _CALL,
                    },
                },
                "Error": error,
            },
        },
    }


async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(document())


if __name__ == "__main__":
    text = json.dumps(document(), indent=2) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
