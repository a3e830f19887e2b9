"""The Mermaid diagram shows every step and every routed outcome."""

from __future__ import annotations

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
            assert f"s_{step.step} -->|{route.label}|" in text
    assert "s_by_ani -.->|skipped| s_account_number" in text
    assert 'route_agent[/"route: agent"/]' in text
