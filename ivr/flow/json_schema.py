"""The JSON Schema of flow files, so editors check them (and complete keys) as people type.

Generated from the pydantic models, then adjusted where the YAML a person writes differs from
the Python value it becomes: durations are written `5s` (the model stores seconds) and `play`
takes one prompt id or a list. The committed copy is schemas/flow.schema.json; a test keeps
it equal to this output.
"""

from __future__ import annotations

import json
from typing import Any

from ivr.flow.model import FlowFile

SCHEMA_ID = "urn:ivr:schemas:flow:v1"
_DURATION_FIELDS = ("timeout", "inter_digit_timeout")
_DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?(ms|s|m)$"  # ECMA-262 flavour of model.DURATION_PATTERN

# Key -> help text an editor shows on hover; applied wherever the key appears.
DESCRIPTIONS: dict[str, str] = {
    "schema_version": "Version of the flow language; always 1.",
    "step": "Step id: lower-case letters, digits and _, unique in the file.",
    "description": "Free text for readers; ignored by the engine.",
    "skip_if": "Condition; when true the step is skipped and the call goes to the next step.",
    "uses": "Operation to run, e.g. directory.lookup_by_ani.",
    "with": "Parameters of the operation.",
    "outcomes": "Where each outcome goes: a step id, next, identify, verify, "
    "result.STATUS, route.NAME, return.VALUE or hangup.",
    "max_attempts": "Tries before the max_attempts outcome (no input, invalid input and a "
    "wrong answer each count one).",
    "prompt": "Prompt id from prompts/<language>/catalog.yaml.",
    "retry_prompts": "Prompts for attempts 2, 3, ... after any failed try; the last one repeats.",
    "no_input": "Prompts after silence (VoiceXML noinput), by count; the last one repeats.",
    "invalid": "Prompts after keys that cannot be an answer (VoiceXML nomatch), by count.",
    "wrong": "Prompts after an answer the check refused (not found, wrong), by count.",
    "digits": "How many digits the caller keys in.",
    "dont_have_key": 'Key meaning "I don\'t have it", e.g. "*" (quoted); gives dont_have.',
    "term_key": 'Key that ends input, e.g. "#" (always quoted).',
    "secret": "Never write the digits to logs or the journal.",
    "barge_in": "Whether a key press interrupts the prompt.",
    "next": "Where to go after this step; defaults to the next step of the list.",
    "route": "Route name from config/routes.yaml or a service line alias.",
    "say": "Prompt id played first.",
    "handoff": "Data handed to the agent or the next system.",
    "play": "Prompt id, or a list of prompt ids, played in order.",
    "choices": 'Key ("1", "2", "*", ...) -> where the caller goes.',
    "if": "Condition, e.g. customer.locked == true.",
    "then": "Where to go when the condition holds.",
    "else": "Where to go when no condition holds.",
    "set": "Variables (vars.NAME) and the expressions that give their values.",
    "call_flow": "Id of another flow to run; its return values are this step's outcomes.",
    "return": "Value handed back to the calling flow as the outcome of its call_flow step.",
    "on_error": "Where an unrouted error outcome goes.",
    "start": "Step or list the call starts at; defaults to the first step.",
    "languages": "Languages the flow is played in; every prompt must exist in each.",
    "token": "Issue a visual-IVR token with the handoff.",
}


def _duration_schema() -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": _DURATION_PATTERN,
        "description": "A duration: 500ms, 5s or 2m (at most 10m).",
    }


def _adjust(properties: dict[str, Any]) -> None:
    for name, prop in properties.items():
        if name in _DURATION_FIELDS:
            properties[name] = {"anyOf": [_duration_schema(), {"type": "null"}], "default": None}
            prop = properties[name]
        if name == "play" and prop.get("type") == "array":
            properties[name] = {"anyOf": [dict(prop["items"]), prop]}
            prop = properties[name]
        if name in DESCRIPTIONS and "description" not in prop:
            prop["description"] = DESCRIPTIONS[name]
        prop.pop("title", None)


def flow_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a flow file."""
    schema = FlowFile.model_json_schema(by_alias=True, mode="validation")
    for definition in schema.get("$defs", {}).values():
        _adjust(definition.get("properties", {}))
    _adjust(schema.get("properties", {}))
    header = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "IVR flow file (v1)",
        "description": "A caller identification and verification flow; see docs/flow-language.md.",
    }
    schema.pop("title", None)
    schema.pop("description", None)
    return {**header, **schema}


def flow_json_schema_text() -> str:
    """The schema as the committed file holds it: sorted keys, two-space indent, final newline."""
    return json.dumps(flow_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
