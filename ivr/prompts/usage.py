"""Which prompt ids each flow uses, with the line of each use, for `ivr prompts check`.

Flows are parsed here with `yaml.safe_load` and `FlowFile.model_validate` rather than the flow
loader, so prompt checking stays independent of the loader's own cross-reference checks; the
lines come from a walk of the composed YAML nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from ivr.flow.model import AnyStep, AskStep, FlowFile, HangupStep, MenuStep, PlayStep, RouteStep

PROMPT_KEYS = frozenset({"prompt", "retry_prompts", "no_input", "invalid", "wrong", "play", "say"})


@dataclass
class FlowPrompts:
    path: Path
    languages: list[str]
    languages_line: int
    prompts: dict[str, int] = field(default_factory=dict)  # prompt id -> line of first use


class FlowReadError(Exception):
    """The flow file is not valid YAML or not a valid flow; `ivr validate` gives details."""


def step_prompts(step: AnyStep) -> list[str]:
    """Prompt ids one step plays, in the order a caller could hear them."""
    if isinstance(step, AskStep):
        ask = step.ask
        return [ask.prompt, *ask.retry_prompts, *ask.no_input, *ask.invalid, *ask.wrong]
    if isinstance(step, MenuStep):
        menu = step.menu
        return [menu.prompt, *menu.retry_prompts, *menu.no_input, *menu.invalid]
    if isinstance(step, PlayStep):
        return list(step.play)
    if isinstance(step, RouteStep):
        return [step.say] if step.say else []
    if isinstance(step, HangupStep):
        return [step.hangup.say] if step.hangup.say else []
    return []


def flow_prompt_ids(flow: FlowFile) -> list[str]:
    """Every prompt id a flow uses (steps, then results), without duplicates."""
    ids: list[str] = []
    for _, _, step in flow.all_steps():
        ids.extend(step_prompts(step))
    ids.extend(result.say for result in flow.results.values() if result.say)
    ids.extend([*flow.defaults.no_input, *flow.defaults.invalid, *flow.defaults.wrong])
    return list(dict.fromkeys(ids))


def read_flow_prompts(path: Path) -> FlowPrompts:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        flow = FlowFile.model_validate(data)
        lines = _prompt_lines(yaml.compose(text))
    except OSError as error:
        raise FlowReadError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise FlowReadError(f"{path}:{line}: not valid YAML; run `ivr validate`") from error
    except ValidationError as error:
        raise FlowReadError(
            f"{path}:1: not a valid flow ({error.error_count()} problems); run `ivr validate`"
        ) from error
    return FlowPrompts(
        path=path,
        languages=list(flow.flow.languages),
        languages_line=lines.get("\0languages", 1),
        prompts={prompt_id: lines.get(prompt_id, 1) for prompt_id in flow_prompt_ids(flow)},
    )


def _prompt_lines(root: yaml.Node | None) -> dict[str, int]:
    """First line where each scalar under a prompt-bearing key appears (plus `languages`)."""
    lines: dict[str, int] = {}

    def remember(node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode):
            lines.setdefault(str(node.value), node.start_mark.line + 1)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                remember(item)

    def walk(node: yaml.Node) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value in PROMPT_KEYS:
                    remember(value)
                elif key.value == "languages":
                    lines.setdefault("\0languages", key.start_mark.line + 1)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    if root is not None:
        walk(root)
    return lines
