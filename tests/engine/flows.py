"""Small flows written inline for engine tests, loaded through the real loader and compiler."""

from __future__ import annotations

from pathlib import Path

from ivr.bootstrap import Loaded
from ivr.engine.registry import FlowRegistry
from ivr.flow.compiler import compile_flow
from ivr.flow.loader import ValidationContext, load_flow_text

HEADER = """schema_version: 1
flow: {{id: {flow_id}, version: "{version}", languages: [en-GB]}}
"""


def add_flow(loaded: Loaded, registry: FlowRegistry, text: str, flow_id: str = "t") -> None:
    context = ValidationContext(
        catalog=loaded.catalog,
        config=loaded.config,
        flows={f.flow.flow.id: f.flow for f in loaded.flows.values()}
        | {flow_id: registry.current(flow_id).flow for flow_id in registry.flow_ids()},
    )
    flow = load_flow_text(text, f"{flow_id}.yaml", context)
    registry.add(compile_flow(flow.flow, flow.path, flow.step_lines))


def generated_flow(steps: int, flow_id: str = "big") -> str:
    """A long chain of menus: `steps` steps, each a menu whose key 1 goes on."""
    body = [HEADER.format(flow_id=flow_id, version="1"), "steps:\n"]
    for index in range(steps):
        following = f"m{index + 1}" if index + 1 < steps else "result.not_identified"
        body.append(
            f"  - step: m{index}\n"
            f'    menu: {{prompt: welcome, choices: {{"1": {following}, "2": route.agent}}}}\n'
            f"    outcomes: {{max_attempts: route.agent}}\n"
        )
    body.append("results:\n  not_identified: {route: agent}\n")
    return "".join(body)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
