"""Pydantic validation errors, turned into Problems at the YAML position of the offending node.

Pydantic's `loc` is close to a path in the data but not equal to it: a tagged step union adds
the tag (`('steps', 1, 'play', 'nxt')`), unions of scalars add the member type
(`(..., 'field', 'str')`) and dict keys end in `'[key]'`. `data_path` walks the loc against the
data to recover the real path, so the source map gives the exact line and column.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ivr.flow import model as m
from ivr.flow.problems import Problem, did_you_mean
from ivr.flow.yaml_loader import KEY_FIELDS, YamlDocument, quote_hint

DataPath = tuple[str | int, ...]

_TAGS = frozenset(m.STEP_KINDS.values())
_DURATION_FIELDS = frozenset({"timeout", "inter_digit_timeout"})
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})
_STEP_MODELS: dict[str, type[BaseModel]] = {
    "ask": m.AskStep,
    "operation": m.OperationStep,
    "play": m.PlayStep,
    "menu": m.MenuStep,
    "decide": m.DecideStep,
    "set": m.SetStep,
    "route": m.RouteStep,
    "call_flow": m.CallFlowStep,
    "return": m.ReturnStep,
    "hangup": m.HangupStep,
}
_CHILD_MODELS: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (m.FlowFile, "flow"): m.FlowInfo,
    (m.FlowFile, "defaults"): m.Defaults,
    (m.Defaults, "input"): m.InputSettings,
    (m.AskStep, "ask"): m.AskSpec,
    (m.AskSpec, "digits"): m.DigitsSpec,
    (m.MenuStep, "menu"): m.MenuSpec,
    (m.HangupStep, "hangup"): m.HangupSpec,
}
_PATTERN_MESSAGES = {
    m.KEY_PATTERN: "must be one key: a digit 0-9, *, # or A-D, in quotes",
    m.STEP_ID_PATTERN: "must be lower-case letters, digits and _, starting with a letter",
}


def data_path(loc: tuple[Any, ...], data: Any) -> tuple[DataPath, bool]:
    """(path in the data, whether the error is about the key at that path)."""
    path: list[str | int] = []
    node = data
    for position, part in enumerate(loc):
        if part == "[key]":
            return tuple(path), True
        is_tag = position == 2 and len(path) == 2 and path[0] in m.SECTIONS and part in _TAGS
        if is_tag:
            continue
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_list or (isinstance(node, dict) and part in node):
            path.append(part)
            node = node[part]
        elif position == len(loc) - 1 and isinstance(node, dict) and isinstance(part, str):
            path.append(part)  # a missing key: the path names it, the position is its parent's
    return tuple(path), False


def model_at(path: DataPath, data: Any) -> type[BaseModel] | None:
    """The model that validates the mapping at `path`, for did-you-mean over its keys."""
    cls: type[BaseModel] = m.FlowFile
    node = data
    index = 0
    while index < len(path):
        part = path[index]
        node = _child(node, part)
        if cls is m.FlowFile and part in m.SECTIONS and index + 1 < len(path):
            index += 1
            node = _child(node, path[index])
            found = _STEP_MODELS.get(m.step_kind(node) or "")
            if found is None:
                return None
            cls = found
        elif cls is m.FlowFile and part == "results" and index + 1 < len(path):
            index += 1
            node, cls = _child(node, path[index]), m.Result
        elif cls is m.DecideStep and part == "decide" and index + 1 < len(path):
            index += 1
            node, cls = _child(node, path[index]), m.DecideBranch
        else:
            child = _CHILD_MODELS.get((cls, str(part)))
            if child is None:
                return None
            cls = child
        index += 1
    return cls


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def field_names(cls: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in cls.model_fields.items()]


def _value(data: Any, path: DataPath) -> Any:
    node = data
    for part in path:
        node = _child(node, part)
    return node


def _where(path: DataPath, data: Any = None) -> str:
    """A readable place: "step 'welcome'", "ask of step 'dob'", "defaults.input"."""
    if len(path) >= 2 and path[0] in m.SECTIONS and isinstance(path[1], int):
        step = _value(data, path[:2])
        step_id = step.get("step") if isinstance(step, dict) else None
        name = f"step '{step_id}'" if isinstance(step_id, str) else f"{path[0]} item {path[1] + 1}"
        inner = [str(part) for part in path[2:] if isinstance(part, str)]
        return f"{'.'.join(inner)} of {name}" if inner else name
    words = [str(part) for part in path if isinstance(part, str)]
    return ".".join(words) if words else "the top level"


def schema_problem(
    doc: YamlDocument, error: Any, seen: set[tuple[DataPath, str]]
) -> Problem | None:
    """One pydantic error as a Problem; None when already reported at that path."""
    path, is_key = data_path(tuple(error["loc"]), doc.data)
    kind: str = error["type"]
    if path in doc.reported or (path, kind) in seen or (path, "*") in seen:
        return None
    seen.add((path, kind))
    code, message, hint = _describe(doc, path, is_key, error)
    if code in ("bad-value", "unquoted-digits", "unquoted-symbol"):
        seen.add((path, "*"))  # a union reports once per member type: keep the first
    if kind in ("extra_forbidden", "missing") or is_key:
        line, column = doc.key_position(path) if kind != "missing" else doc.position(path[:-1])
    else:
        line, column = doc.position(path)
    return Problem(doc.filename, line, column, code, message, hint)


def _describe(
    doc: YamlDocument, path: DataPath, is_key: bool, error: Any
) -> tuple[str, str, str | None]:
    kind: str = error["type"]
    name = str(path[-1]) if path else ""
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = model_at(path[:-1], doc.data)
        options = field_names(parent) if parent is not None else []
        hint = did_you_mean(name, options)
        if hint is None and name in m.STEP_KINDS:
            hint = "a step has exactly one kind key (ask, uses, play, menu, ...)"
        return "unknown-key", f"unknown key '{name}' in {_where(path[:-1], doc.data)}", hint
    if kind == "missing":
        return "missing-key", f"'{name}' is required in {_where(path[:-1], doc.data)}", None
    if kind == "step_kind":
        step = _value(doc.data, path)
        hint = None
        if isinstance(step, dict):
            for key in step:
                hint = hint or did_you_mean(str(key), m.STEP_KINDS)
        message = "a step needs a kind key: " + ", ".join(m.STEP_KINDS)
        return "no-step-kind", message, hint
    if is_key:
        return _describe_key(name, kind, error, ctx)
    raw = doc.raw.get(path)
    value = _value(doc.data, path)
    if kind == "string_type" and raw is not None and value is not None:
        if raw.lstrip("+-").isdigit():
            return (
                "unquoted-digits",
                f"'{name}' must be text, not the number {raw}",
                quote_hint(raw),
            )
        return "bad-value", f"'{name}' must be text", quote_hint(raw)
    if kind == "bool_type" and isinstance(value, str) and value.lower() in _YAML11_BOOLS:
        return "bad-value", f"'{name}' must be true or false", f"write true or false, not {value}"
    if name in _DURATION_FIELDS and kind in ("value_error", "float_type", "float_parsing"):
        return "bad-duration", f"'{name}': {_plain(error)}", None
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        message = _PATTERN_MESSAGES.get(pattern, f"must match {pattern}")
        if pattern == m.KEY_PATTERN and name in KEY_FIELDS and raw == "":
            return "unquoted-symbol", f"'{name}' is empty", 'write "#" in quotes'
        return "bad-value", f"'{name}' {message}: {value!r}", None
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = [part.strip(" '") for part in expected.replace(" or ", ",").split(",")]
        hint = did_you_mean(str(value), options) if isinstance(value, str) else None
        return "bad-value", f"'{name}': {_plain(error)}", hint
    return "bad-value", f"'{name or _where(path)}': {_plain(error)}", None


def _describe_key(
    name: str, kind: str, error: Any, ctx: dict[str, Any]
) -> tuple[str, str, str | None]:
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        message = _PATTERN_MESSAGES.get(pattern, f"must match {pattern}")
        return "bad-value", f"the key '{name}' {message}", None
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = [part.strip(" '") for part in expected.replace(" or ", ",").split(",")]
        return (
            "bad-value",
            f"'{name}' is not allowed here: {_plain(error)}",
            did_you_mean(name, options),
        )
    return "bad-value", f"the key '{name}': {_plain(error)}", None


def _plain(error: Any) -> str:
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")
