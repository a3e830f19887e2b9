"""A Mermaid flowchart of a flow, generated so the picture can never drift from the file.

Steps are boxes labelled with their kind; each routed outcome is a labelled arrow; results,
routes, returns and hang-up are terminal shapes. Paste the output into any Markdown viewer
that renders Mermaid (GitHub, GitLab, VS Code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def step_kind_label(step: m.AnyStep) -> str:
    kind = m.step_kind(step) or "step"
    if isinstance(step, m.AskStep | m.OperationStep) and step.uses:
        return f"{kind}: {step.uses}"
    if isinstance(step, m.RouteStep):
        return f"route: {step.route}"
    if isinstance(step, m.CallFlowStep):
        return f"call flow: {step.call_flow}"
    return kind


@dataclass(frozen=True, slots=True)
class Node:
    """A box of the diagram: a step, or where a call leaves the flow."""

    node_id: str
    kind: str  # "step", "hangup", "result", "route" or "return"
    label: str
    detail: str = ""  # a step's kind ("ask: directory.lookup_by_account")
    step: str | None = None


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    label: str  # the outcome, menu key, next/if/else; "" for an unlabelled exit
    skipped: bool = False  # `skip_if` passing the step by


@dataclass(frozen=True, slots=True)
class FlowGraph:
    nodes: tuple[Node, ...]  # steps in file order, then terminals in order of first use
    edges: tuple[Edge, ...]


def _terminal_node(ref: TargetRef) -> Node:
    labels = {
        "hangup": "hang up",
        "result": f"result: {ref.name}",
        "route": f"route: {ref.name}",
        "return": f"return: {ref.name}",
    }
    return Node(_node_id(ref), ref.kind, labels[ref.kind])


def flow_graph(flow: m.FlowFile) -> FlowGraph:
    """Every step and exit of `flow` with every routed edge: what Mermaid and SVG both draw."""
    steps: list[Node] = []
    terminals: dict[str, Node] = {}
    edges: list[Edge] = []

    def to(ref: TargetRef) -> str:
        node = _node_id(ref)
        if ref.kind != "step":
            terminals.setdefault(node, _terminal_node(ref))
        return node

    for section, index, step in flow.all_steps():
        node = _node_id(TargetRef("step", step.step))
        steps.append(Node(node, "step", step.step, step_kind_label(step), step.step))
        for route in step_routes(step, (section, index)):
            try:
                ref = resolve_target(flow, section, index, route.target)
            except TargetError:
                continue
            edges.append(Edge(node, to(ref), route.label))
        if step.skip_if is not None:
            try:
                ref = resolve_target(flow, section, index, "next")
            except TargetError:
                continue
            edges.append(Edge(node, to(ref), "skipped", skipped=True))
        if isinstance(step, m.RouteStep):
            edges.append(Edge(node, to(TargetRef("route", step.route)), ""))
        if isinstance(step, m.HangupStep | m.ReturnStep):
            ref = (
                TargetRef("hangup", "")
                if isinstance(step, m.HangupStep)
                else TargetRef("return", step.return_)
            )
            edges.append(Edge(node, to(ref), ""))
    for status, result in flow.results.items():
        result_node = _node_id(TargetRef("result", status))
        if result_node in terminals:
            edges.append(Edge(result_node, to(TargetRef("route", result.route)), ""))
    return FlowGraph((*steps, *terminals.values()), tuple(edges))


def _mermaid_shape(node: Node) -> str:
    label = _label(node.label)
    if node.kind == "step":
        return f'{node.node_id}["{label}<br/><i>{_label(node.detail)}</i>"]'
    if node.kind == "hangup":
        return f'{node.node_id}(("{label}"))'
    if node.kind == "route":
        return f'{node.node_id}[/"{label}"/]'
    return f'{node.node_id}(["{label}"])'


def mermaid(flow: m.FlowFile) -> str:
    """`flowchart TD` text for `flow` (which should have passed validation)."""
    graph = flow_graph(flow)
    lines = ["flowchart TD"]
    steps = [n for n in graph.nodes if n.kind == "step"]
    if steps:
        lines.append(f'    start((" ")) --> {steps[0].node_id}')
    lines += [f"    {_mermaid_shape(n)}" for n in steps]
    lines += [f"    {_mermaid_shape(n)}" for n in graph.nodes if n.kind != "step"]
    for edge in graph.edges:
        if edge.skipped:
            lines.append(f'    {edge.source} -.->|"{_label(edge.label)}"| {edge.target}')
        elif edge.label:
            lines.append(f'    {edge.source} -->|"{_label(edge.label)}"| {edge.target}')
        else:
            lines.append(f"    {edge.source} --> {edge.target}")
    return "\n".join(lines) + "\n"
