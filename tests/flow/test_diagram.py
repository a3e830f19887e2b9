"""The Mermaid diagram shows every step and every routed outcome."""

from __future__ import annotations

from pathlib import Path

from ivr.flow.diagram import mermaid
from ivr.flow.graph import step_routes
from ivr.flow.loader import load_flow
from tests.flow.helpers import ROOT, repo_context


def test_every_step_and_routed_outcome_appears() -> None:
    flow = load_flow(ROOT / "flows" / "idv.yaml", repo_context()).flow
    text = mermaid(flow)
    assert text.startswith("flowchart TD\n")
    for section, index, step in flow.all_steps():
        assert f"s_{step.step}[" in text
        for route in step_routes(step, (section, index)):
            assert f's_{step.step} -->|"{route.label}"|' in text
    assert 's_by_ani -.->|"skipped"| s_account_number' in text
    assert 'route_agent[/"route: agent"/]' in text


def test_a_flow_with_every_step_kind_is_clean_and_drawn() -> None:
    loaded = load_flow(Path(__file__).with_name("all_kinds.yaml"), repo_context())
    assert loaded.warnings == ()
    text = mermaid(loaded.flow)
    for section, index, step in loaded.flow.all_steps():
        for route in step_routes(step, (section, index)):
            assert f's_{step.step} -->|"{route.label}"|' in text
    assert 's_main_menu -->|"#"| s_check' in text
    assert 'hangup(("hang up"))' in text
