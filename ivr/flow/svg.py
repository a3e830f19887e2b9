"""A flow drawn as SVG, with what callers did on it: for business users who cannot read Mermaid.

The picture is laid out here, from the same graph the Mermaid diagram reads (`flow_graph`), so
no browser library or external service is needed: the dashboard's flow view inlines it, and
`ivr diagram FLOW --format svg` writes the same file. Layers follow the longest forward path
from the first step (edges back up the page, retries and loops, are drawn round the right-hand
side); within a layer steps keep their order in the file, so the picture reads like the YAML.

With `counts`, each step shows how many calls reached it and their share of the flow's calls,
and each edge how many calls took it; edge widths follow the counts, so where callers drop,
retry or leave stands out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from ivr.flow import model as m
from ivr.flow.diagram import Edge, FlowGraph, Node, flow_graph

NODE_W, NODE_H = 196, 58
GAP_X, GAP_Y = 34, 74
MARGIN = 24
BACK_LANE = 22  # horizontal spacing of the lanes that carry edges back up the page
MAX_LABEL = 28
MAX_EDGE_LABEL = 44
LABEL_ROOM = 7 * MAX_EDGE_LABEL // 2 + 40  # an edge label's worst overhang, in px


@dataclass
class FlowCounts:
    """What the journal says callers did on a flow over a period."""

    calls: int = 0
    reached: dict[str, int] = field(default_factory=dict)  # step -> calls that entered it
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)  # (step, outcome) -> n

    def ended(self, step: str) -> int:
        return sum(n for (s, _), n in self.outcomes.items() if s == step)

    def edge(self, edge: Edge, node: Node, exits: int) -> int | None:
        """Calls that took `edge` out of step `node`: by outcome name, by menu key, or (for a
        step with a single way out) every call that left the step."""
        if node.step is None:
            return None
        label = "skipped" if edge.skipped else edge.label
        for name in (label, f"key_{label}"):
            if (node.step, name) in self.outcomes:
                return self.outcomes[(node.step, name)]
        if exits == 1:
            return self.ended(node.step)
        return 0


def _short(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class _Bundle:
    """Edges with the same ends, drawn as one line: "not_found, many, error · 120"."""

    source: str
    target: str
    label: str
    skipped: bool
    count: int | None


def _bundles(
    edges: tuple[Edge, ...],
    nodes: Mapping[str, Node],
    exits: Mapping[str, int],
    counts: FlowCounts | None,
) -> list[_Bundle]:
    grouped: dict[tuple[str, str, bool], list[Edge]] = {}
    for e in edges:
        grouped.setdefault((e.source, e.target, e.skipped), []).append(e)
    out = []
    for (source, target, skipped), group in grouped.items():
        label = ", ".join(e.label for e in group if e.label)
        count = None
        if counts is not None:
            found = [counts.edge(e, nodes[source], exits[source]) for e in group]
            count = (
                sum(n for n in found if n is not None)
                if any(n is not None for n in found)
                else None
            )
        out.append(_Bundle(source, target, label, skipped, count))
    return out


def _layers(graph: FlowGraph) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Layer of each node (longest forward path from the first step) and the back edges."""
    out: dict[str, list[str]] = {n.node_id: [] for n in graph.nodes}
    for e in graph.edges:
        out.setdefault(e.source, []).append(e.target)
    order = [n.node_id for n in graph.nodes]
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1 on the DFS stack, 2 done
    finished: list[str] = []
    for root in order:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            targets = out.get(node, [])
            if i < len(targets):
                stack[-1] = (node, i + 1)
                nxt = targets[i]
                seen = state.get(nxt)
                if seen == 1:
                    back.add((node, nxt))
                elif seen is None:
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                finished.append(node)
                stack.pop()
    layer = dict.fromkeys(order, 0)
    for node in reversed(finished):  # a topological order of the forward edges
        for nxt in out.get(node, []):
            if (node, nxt) not in back:
                layer[nxt] = max(layer[nxt], layer[node] + 1)
    return layer, back


@dataclass(frozen=True, slots=True)
class _Box:
    x: float
    y: float

    @property
    def cx(self) -> float:
        return self.x + NODE_W / 2


def _shape(node: Node, box: _Box) -> str:
    x, y, w, h = box.x, box.y, NODE_W, NODE_H
    if node.kind == "step":
        return f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" class="box"/>'
    if node.kind == "route":
        points = f"{x + 12},{y} {x + w},{y} {x + w - 12},{y + h} {x},{y + h}"
        return f'<polygon points="{points}" class="exit"/>'
    if node.kind == "hangup":
        return f'<ellipse cx="{box.cx}" cy="{y + h / 2}" rx="{w / 2}" ry="{h / 2}" class="exit"/>'
    return f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{h / 2}" class="exit"/>'


def _number(n: int) -> str:
    return f"{n:,}"


# The diagram's one inline style, constant so that pages inlining the diagram can allow it by
# hash in their Content-Security-Policy (ivr.web.security_headers).
DIAGRAM_STYLE = (
    ".box{fill:#fff;stroke:#2f6fde;stroke-width:1.5}.exit{fill:#eef1f6;"
    "stroke:#55607a;stroke-width:1.2}.edge{fill:none;stroke:#55607a}.skip{stroke-dasharray:5 4}"
    ".name{font:600 13px system-ui,sans-serif;fill:#1d2330}.kind{font:11px system-ui,"
    "sans-serif;fill:#4a5468}.count{font:600 11px system-ui,sans-serif;fill:#0b5d3b}"
    ".elabel{font:11px system-ui,sans-serif;fill:#1d2330;paint-order:stroke;stroke:#fff;"
    "stroke-width:3px}.step{cursor:pointer}.step:focus rect,.step:hover rect{fill:#eef3ff}"
)


def render_svg(flow: m.FlowFile, counts: FlowCounts | None = None, title: str | None = None) -> str:
    """The flow as a standalone SVG document (inline-able in HTML)."""
    graph = flow_graph(flow)
    layer, back = _layers(graph)
    rows: dict[int, list[Node]] = {}
    for node in graph.nodes:
        rows.setdefault(layer[node.node_id], []).append(node)
    widest = max((len(r) for r in rows.values()), default=1)
    lanes = len(back)
    # room on the right for the back lanes and for edge labels written out from the middle
    width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X + lanes * BACK_LANE + LABEL_ROOM
    boxes: dict[str, _Box] = {}
    for depth, row in sorted(rows.items()):
        row_w = len(row) * NODE_W + (len(row) - 1) * GAP_X
        left = MARGIN + (widest * NODE_W + (widest - 1) * GAP_X - row_w) / 2
        for i, node in enumerate(row):
            boxes[node.node_id] = _Box(
                left + i * (NODE_W + GAP_X), MARGIN + depth * (NODE_H + GAP_Y)
            )
    height = MARGIN * 2 + (max(rows, default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    exits: dict[str, int] = {}
    for e in graph.edges:
        exits[e.source] = exits.get(e.source, 0) + 1
    by_id = {n.node_id: n for n in graph.nodes}
    drawn = _bundles(graph.edges, by_id, exits, counts)
    most = max((b.count for b in drawn if b.count), default=0)
    name = title or f"Flow {flow.flow.id} version {flow.flow.version}"
    desc = "Steps of the flow with the outcomes that route between them"
    if counts is not None:
        desc += f"; {_number(counts.calls)} calls in the period"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}"'
        f' width="{width:.0f}" height="{height:.0f}" role="group" aria-labelledby="flow-title'
        ' flow-desc" class="flow-diagram">',
        f'<title id="flow-title">{escape(name)}</title><desc id="flow-desc">{escape(desc)}</desc>',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='9'"
        " markerHeight='9' markerUnits='userSpaceOnUse' orient='auto-start-reverse'>"
        "<path d='M0,0 L10,5 L0,10 z' fill='#55607a'/></marker></defs>",
        f"<style>{DIAGRAM_STYLE}</style>",
    ]
    lane = 0
    for bundle in drawn:
        count = bundle.count
        a, b = boxes[bundle.source], boxes[bundle.target]
        width_px = 1.4 + (5.0 * count / most if count and most else 0.0)
        cls = "edge skip" if bundle.skipped else "edge"
        text = bundle.label
        shown = _short(text, MAX_EDGE_LABEL)
        if count is not None:
            text = f"{text} · {_number(count)}" if text else _number(count)
            shown = f"{shown} · {_number(count)}" if shown else _number(count)
        if (bundle.source, bundle.target) in back or layer[bundle.target] <= layer[bundle.source]:
            lane += 1
            x_out = MARGIN + widest * NODE_W + (widest - 1) * GAP_X + lane * BACK_LANE
            y1, y2 = a.y + NODE_H / 2, b.y + NODE_H / 2
            path = (
                f"M{a.x + NODE_W},{y1} H{x_out} V{y2} H{b.x + NODE_W + 2}"
                if bundle.source != bundle.target
                else f"M{a.x + NODE_W},{y1 - 10} h18 v20 h-16"
            )
            lx, ly, anchor = float(x_out - 4), (y1 + y2) / 2, "end"
        else:
            x1, y1, x2, y2 = a.cx, a.y + NODE_H, b.cx, b.y - 2
            mid = (y1 + y2) / 2
            path = f"M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2}"
            lx, ly, anchor = (x1 + x2) / 2 + 4, mid + 4, "start"
            if bundle.skipped:  # beside its twin edge: label on the other side
                lx, anchor = lx - 10, "end"
        label = (
            f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}" class="elabel">'
            f"<title>{escape(text)}</title>{escape(shown)}</text>"
            if text
            else ""
        )
        parts.append(
            f'<g class="edge-group" data-source={quoteattr(bundle.source)}'
            f" data-target={quoteattr(bundle.target)} data-outcomes={quoteattr(bundle.label)}"
            f' data-count="{"" if count is None else count}">'
            f'<path d="{path}" class="{cls}" stroke-width="{width_px:.1f}"'
            f' marker-end="url(#arrow)"/>{label}</g>'
        )
    for node in graph.nodes:
        box = boxes[node.node_id]
        lines = [(node.label, "name")]
        if node.detail:
            lines.append((node.detail, "kind"))
        summary = node.label
        if counts is not None and node.step is not None:
            reached = counts.reached.get(node.step, 0)
            share = f" ({reached / counts.calls:.0%})" if counts.calls else ""
            lines.append((f"reached by {_number(reached)}{share}", "count"))
            summary = f"step {node.label}: reached by {_number(reached)} calls{share}"
        step_attrs = (
            f' class="step" data-step={quoteattr(node.step)} tabindex="0" role="button"'
            f" aria-label={quoteattr(summary + '; show calls that ended here')}"
            if node.step is not None
            else f' class="terminal" aria-label={quoteattr(summary)}'
        )
        text_y = box.y + NODE_H / 2 - (len(lines) - 1) * 7 + 4
        texts = "".join(
            f'<text x="{box.cx}" y="{text_y + i * 15:.1f}" text-anchor="middle" class="{cls}">'
            f"{escape(_short(t))}</text>"
            for i, (t, cls) in enumerate(lines)
        )
        parts.append(
            f"<g{step_attrs} data-node={quoteattr(node.node_id)}>{_shape(node, box)}{texts}</g>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def counts_from_rows(
    calls: int, step_rows: Mapping[tuple[str, str], int], entered_label: str = ""
) -> FlowCounts:
    """`FlowCounts` from (step, outcome) -> n rows, where outcome `entered_label` counts entries
    (the journal's `step_daily` keeps entries under the empty outcome)."""
    counts = FlowCounts(calls=calls)
    for (step, outcome), n in step_rows.items():
        if outcome == entered_label:
            counts.reached[step] = counts.reached.get(step, 0) + n
        else:
            counts.outcomes[(step, outcome)] = counts.outcomes.get((step, outcome), 0) + n
    return counts
