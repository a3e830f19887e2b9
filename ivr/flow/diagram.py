"""A Mermaid flowchart of a flow, generated so the picture can never drift from the file.

Steps are boxes labelled with their kind; each routed outcome is a labelled arrow; results,
routes, returns and hang-up are terminal shapes. Paste the output into any Markdown viewer
that renders Mermaid (GitHub, GitLab, VS Code).
"""

from __future__ import annotations

import re

from ivr.flow import model as m
from ivr.flow.graph import step_routes
from ivr.flow.targets import TargetError, TargetRef, resolve_target

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def _node_id(ref: TargetRef) -> str:
    name = _UNSAFE.sub("_", ref.name)
    return f"s_{name}" if ref.kind == "step" else f"{ref.kind}_{name}".rstrip("_")


def _label(text: str) -> str:
    """Text safe inside a quoted Mermaid label (quotes and entity-like `#...;` defused)."""
    return text.replace('"', "'").replace("|", "/").replace(";", ",")


def _terminal(ref: TargetRef) -> str:
    node = _node_id(ref)
    if ref.kind == "hangup":
        return f'{node}(("hang up"))'
    if ref.kind == "result":
        return f'{node}(["result: {_label(ref.name)}"])'
    if ref.kind == "route":
        return f'{node}[/"route: {_label(ref.name)}"/]'
    return f'{node}(["return: {_label(ref.name)}"])'


def step_kind_label(step: m.AnyStep) -> str:
    kind = m.step_kind(step) or "step"
    if isinstance(step, m.AskStep | m.OperationStep) and step.uses:
        return f"{kind}: {step.uses}"
    if isinstance(step, m.RouteStep):
        return f"route: {step.route}"
    if isinstance(step, m.CallFlowStep):
        return f"call flow: {step.call_flow}"
    return kind


def mermaid(flow: m.FlowFile) -> str:
    """`flowchart TD` text for `flow` (which should have passed validation)."""
    lines = ["flowchart TD"]
    terminals: dict[str, str] = {}
    edges: list[str] = []
    steps = flow.all_steps()
    if steps:
        first = TargetRef("step", steps[0][2].step)
        lines.append(f'    start((" ")) --> {_node_id(first)}')
    for section, index, step in steps:
        node = _node_id(TargetRef("step", step.step))
        lines.append(
            f'    {node}["{_label(step.step)}<br/><i>{_label(step_kind_label(step))}</i>"]'
        )
        for route in step_routes(step, (section, index)):
            try:
                ref = resolve_target(flow, section, index, route.target)
            except TargetError:
                continue
            if ref.kind != "step":
                terminals.setdefault(_node_id(ref), _terminal(ref))
            edges.append(f'    {node} -->|"{_label(route.label)}"| {_node_id(ref)}')
        if step.skip_if is not None:
            try:
                ref = resolve_target(flow, section, index, "next")
            except TargetError:
                continue
            if ref.kind != "step":
                terminals.setdefault(_node_id(ref), _terminal(ref))
            edges.append(f'    {node} -.->|"skipped"| {_node_id(ref)}')
        if isinstance(step, m.RouteStep):
            ref = TargetRef("route", step.route)
            terminals.setdefault(_node_id(ref), _terminal(ref))
            edges.append(f"    {node} --> {_node_id(ref)}")
        if isinstance(step, m.HangupStep | m.ReturnStep):
            ref = (
                TargetRef("hangup", "")
                if isinstance(step, m.HangupStep)
                else TargetRef("return", step.return_)
            )
            terminals.setdefault(_node_id(ref), _terminal(ref))
            edges.append(f"    {node} --> {_node_id(ref)}")
    for status, result in flow.results.items():
        result_node = _node_id(TargetRef("result", status))
        if result_node in terminals:
            where = TargetRef("route", result.route)
            terminals.setdefault(_node_id(where), _terminal(where))
            edges.append(f"    {result_node} --> {_node_id(where)}")
    lines += [f"    {shape}" for shape in terminals.values()]
    lines += edges
    return "\n".join(lines) + "\n"
