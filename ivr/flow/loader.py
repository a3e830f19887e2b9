"""Load and validate flow files: the one entry point the runtime and the CLI use.

Loading is three passes over one file, all problems collected before anything is raised:
strict YAML (positions and YAML traps), the pydantic schema (each error mapped back to its
YAML position), then the cross-reference and graph checks of `ivr.flow.checks`. When the schema
fails, the broken parts are set aside (unknown keys dropped, a broken step replaced by a
stand-in) so the later checks still run and the user sees every problem at once.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ivr.flow.checks import ValidationContext, check_flow, unused_prompts
from ivr.flow.model import SECTIONS, STEP_ID_PATTERN, FlowFile
from ivr.flow.problems import Problem, sort_problems
from ivr.flow.schema_errors import DataPath, data_path, field_names, model_at, schema_problem
from ivr.flow.yaml_loader import KEY_FIELDS, Position, YamlDocument, load_yaml

__all__ = [
    "FlowLoadError",
    "LoadedFlow",
    "ValidationContext",
    "load_flow",
    "load_flow_text",
    "load_flows",
]

_REPAIR_ROUNDS = 6


@dataclass(frozen=True)
class LoadedFlow:
    path: str
    flow: FlowFile
    source_map: Mapping[tuple[str | int, ...], tuple[int, int]]  # value positions, 1-based
    step_lines: Mapping[str, int]  # step id -> line of its `step:` key
    outcome_lines: Mapping[tuple[str, str], int]  # (step id, outcome) -> line where routed
    warnings: tuple[Problem, ...] = ()


class FlowLoadError(Exception):
    """A flow that cannot run; `problems` holds every error (and warning) found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(problem.format() for problem in problems))


@dataclass
class ParsedFlow:
    """One file after YAML and schema: the model (possibly repaired) and what was wrong."""

    doc: YamlDocument
    flow: FlowFile | None
    problems: list[Problem] = field(default_factory=list)
    repaired: set[str] = field(default_factory=set)  # "steps", "flow": parts set aside


def parse_flow_text(text: str, filename: str) -> ParsedFlow:
    """Strict YAML, then the schema; never raises."""
    doc = load_yaml(text, filename)
    parsed = ParsedFlow(doc=doc, flow=None)
    if doc.fatal:
        parsed.problems = list(doc.problems)
        return parsed
    if not isinstance(doc.data, dict):
        doc.add((1, 1), "bad-value", "a flow file is a mapping of keys such as schema_version")
        parsed.problems = list(doc.problems)
        return parsed
    parsed.flow, schema = _validate(doc, parsed.repaired)
    parsed.problems = [*doc.problems, *schema]
    return parsed


def _validate(doc: YamlDocument, repaired: set[str]) -> tuple[FlowFile | None, list[Problem]]:
    data: Any = doc.data
    problems: list[Problem] = []
    for round_number in range(_REPAIR_ROUNDS):
        try:
            return FlowFile.model_validate(data, strict=True), problems
        except ValidationError as error:
            errors = error.errors()
        if round_number == 0:
            seen: set[tuple[DataPath, str]] = set()
            for item in errors:
                problem = schema_problem(doc, item, seen)
                if problem is not None:
                    problems.append(problem)
            data = copy.deepcopy(data)
        if not _repair(data, errors, repaired):
            break
    return None, problems


def _repair(data: dict[str, Any], errors: list[Any], repaired: set[str]) -> bool:
    """Set aside what the schema refused; False when nothing more can be done."""
    changed = False
    stand_ins: set[tuple[str, int]] = set()
    located = [(*data_path(item["loc"], data), item["type"]) for item in errors]
    for path, is_key, kind in located:  # paths found before any change to the data
        if not path:
            return False
        top = path[0]
        if kind == "extra_forbidden" and _rename(data, path):
            changed = True  # a typo of a real key: read it as that key, as the hint says
        elif top in SECTIONS and len(path) >= 2 and isinstance(path[1], int):
            if path[-1] in KEY_FIELDS and not is_key and _replace(data, path, "*"):
                changed = True  # keep the key: its presence decides the dont_have outcome
            elif len(path) > 2 and kind != "missing" and _delete(data, path, is_key):
                changed = True
                repaired.add("steps")  # a step lost a key: its edges may be wrong
            else:
                stand_ins.add((str(top), path[1]))
        elif top == "schema_version":
            data["schema_version"], changed = 1, True
        elif top == "flow" and len(path) > 1 and kind == "extra_forbidden":
            changed = _delete(data, path, is_key) or changed
        elif top == "flow":
            data["flow"] = _fallback_info(data.get("flow"))
            repaired.add("flow")
            changed = True
        elif top == "results" and len(path) > 1:
            changed = _delete(data, path[:2], False) or changed
        elif len(path) > 1 and kind != "missing":
            changed = _delete(data, path, is_key) or _delete(data, path[:1], False) or changed
        else:
            changed = _delete(data, path[:1], False) or changed
    for section, index in stand_ins:
        steps = data.get(section)
        if isinstance(steps, list) and index < len(steps):
            steps[index] = _stand_in(steps[index], section, index)
            repaired.add("steps")
            changed = True
    return changed


def _delete(data: Any, path: DataPath, is_key: bool) -> bool:
    parent = data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
        return True
    if isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
        del parent[last]
        return True
    return False


def _rename(data: Any, path: DataPath) -> bool:
    """Rename an unknown key to the known key it is a typo of, if that key is not there yet."""
    parent_cls = model_at(path[:-1], data)
    if parent_cls is None or not isinstance(path[-1], str):
        return False
    matches = difflib.get_close_matches(path[-1], field_names(parent_cls), n=1, cutoff=0.6)
    parent = _value_at(data, path[:-1])
    if (
        not matches
        or not isinstance(parent, dict)
        or matches[0] in parent
        or path[-1] not in parent
    ):
        return False
    parent[matches[0]] = parent.pop(path[-1])
    return True


def _value_at(data: Any, path: DataPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _replace(data: Any, path: DataPath, value: Any) -> bool:
    parent = data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return False
    if not isinstance(parent, dict) or parent.get(path[-1]) == value:
        return False
    parent[path[-1]] = value
    return True


def _stand_in(step: Any, section: str, index: int) -> dict[str, Any]:
    """A do-nothing step that keeps the id, so targets naming it still resolve."""
    import re

    step_id = step.get("step") if isinstance(step, dict) else None
    if not isinstance(step_id, str) or not re.match(STEP_ID_PATTERN, step_id):
        step_id = f"invalid_{section}_{index}"
    return {"step": step_id, "hangup": {}}


def _fallback_info(info: Any) -> dict[str, Any]:
    info = info if isinstance(info, dict) else {}
    languages = info.get("languages")
    if not (
        isinstance(languages, list) and languages and all(isinstance(x, str) for x in languages)
    ):
        languages = ["und"]
    flow_id = info.get("id")
    return {
        "id": flow_id
        if isinstance(flow_id, str) and flow_id.isidentifier() and flow_id.islower()
        else "flow",
        "version": "0",
        "languages": languages,
    }


def _loaded(parsed: ParsedFlow, warnings: list[Problem]) -> LoadedFlow:
    assert parsed.flow is not None
    doc = parsed.doc
    step_lines: dict[str, int] = {}
    outcome_lines: dict[tuple[str, str], int] = {}
    for section, index, step in parsed.flow.all_steps():
        base = (section, index)
        step_lines.setdefault(step.step, doc.key_position((*base, "step"))[0])
        routed = getattr(step, "outcomes", None) or {}
        for outcome in routed:
            outcome_lines[(step.step, outcome)] = doc.key_position((*base, "outcomes", outcome))[0]
        menu = getattr(step, "menu", None)
        if menu is not None:
            for key in menu.choices:
                position = doc.key_position((*base, "menu", "choices", key))
                outcome_lines[(step.step, key)] = position[0]
    return LoadedFlow(
        path=doc.filename,
        flow=parsed.flow,
        source_map=dict(doc.values),
        step_lines=step_lines,
        outcome_lines=outcome_lines,
        warnings=tuple(warnings),
    )


def _finish(
    parsed: ParsedFlow, context: ValidationContext
) -> tuple[LoadedFlow | None, list[Problem]]:
    problems = list(parsed.problems)
    if parsed.flow is not None:
        problems += check_flow(parsed.flow, parsed.doc, context, parsed.repaired)
    problems = sort_problems(problems)
    if any(problem.is_error for problem in problems):
        return None, problems
    return _loaded(parsed, problems), problems


def _internal(filename: str, error: BaseException) -> FlowLoadError:
    message = f"the validator failed: {type(error).__name__}: {error}"
    return FlowLoadError([Problem(filename, 1, 1, "internal-error", message)])


def load_flow_text(text: str, filename: str, context: ValidationContext) -> LoadedFlow:
    """Validate one flow given as text; raises FlowLoadError (and nothing else)."""
    try:
        loaded, problems = _finish(parse_flow_text(text, filename), context)
    except Exception as error:  # a validator bug must still surface as a flow problem
        raise _internal(filename, error) from error
    if loaded is None:
        raise FlowLoadError(problems)
    return loaded


def load_flow(path: Path, context: ValidationContext) -> LoadedFlow:
    """Validate one flow file; raises FlowLoadError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FlowLoadError(
            [Problem(str(path), 1, 1, "yaml-syntax", f"cannot read: {error}")]
        ) from error
    return load_flow_text(text, str(path), context)


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Directories become their `*.yaml` files, test files (`*.test.yaml`) left out."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                child for child in path.glob("*.yaml") if not child.name.endswith(".test.yaml")
            )
        else:
            files.append(path)
    return files


def load_flows(
    paths: Sequence[Path], context: ValidationContext
) -> tuple[dict[str, LoadedFlow], list[Problem]]:
    """Validate several flows together, so `call_flow` can be checked across them.

    Returns the flows that loaded, by flow id, and every problem (errors and warnings).
    """
    parsed: list[ParsedFlow] = []
    problems: list[Problem] = []
    for path in expand_paths(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(str(path), 1, 1, "yaml-syntax", f"cannot read: {error}"))
            continue
        parsed.append(parse_flow_text(text, str(path)))
    known: dict[str, FlowFile] = dict(context.flows)
    first_file: dict[str, str] = {}
    for item in parsed:
        if item.flow is None or "flow" in item.repaired:
            continue
        flow_id = item.flow.flow.id
        if flow_id in first_file:
            line, column = item.doc.position(("flow", "id"))
            problems.append(
                Problem(
                    item.doc.filename,
                    line,
                    column,
                    "duplicate-flow",
                    f"flow id '{flow_id}' is also used by {first_file[flow_id]}",
                    "give each flow file its own flow id",
                )
            )
            continue
        first_file[flow_id] = item.doc.filename
        known[flow_id] = item.flow
    for flow_id, model in _sibling_flows(paths, {item.doc.filename for item in parsed}).items():
        known.setdefault(flow_id, model)
    shared = replace(context, flows=known)
    loaded: dict[str, LoadedFlow] = {}
    for item in parsed:
        try:
            flow, found = _finish(item, shared)
        except Exception as error:  # a validator bug must still surface as a flow problem
            problems += _internal(item.doc.filename, error).problems
            continue
        problems += found
        if flow is not None and flow.flow.flow.id not in loaded:
            loaded[flow.flow.flow.id] = flow
    if context.catalog is not None and any(path.is_dir() for path in paths):
        models = [item.flow for item in parsed if item.flow is not None]
        problems += unused_prompts(models, context.catalog)
    return loaded, sort_problems(problems)


def _sibling_flows(paths: Sequence[Path], loaded_files: set[str]) -> dict[str, FlowFile]:
    """Flows beside the files named one by one, so `call_flow` to them resolves; never reported."""
    folders = {path.parent for path in paths if not path.is_dir()}
    found: dict[str, FlowFile] = {}
    for sibling in expand_paths(sorted(folders)):
        if str(sibling) in loaded_files:
            continue
        try:
            item = parse_flow_text(sibling.read_text(encoding="utf-8"), str(sibling))
        except (OSError, UnicodeDecodeError):
            continue
        if item.flow is not None and not item.problems:
            found.setdefault(item.flow.flow.id, item.flow)
    return found


def position_of(loaded: LoadedFlow, path: tuple[str | int, ...]) -> Position:
    """Where a path of the flow file starts (nearest ancestor if it has no node of its own)."""
    for end in range(len(path), -1, -1):
        found = loaded.source_map.get(path[:end])
        if found is not None:
            return found
    return (1, 1)
