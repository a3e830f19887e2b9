"""The server's published flows and prompt words, for the dashboard's flow view and journeys.

Read from the running project at each request, so a hot reload shows at once; a call on an
older version is told with that version's prompts while the server still holds it.
"""

from __future__ import annotations

from collections.abc import Callable

from ivr.engine.registry import UnknownFlow
from ivr.flow import model as m
from ivr.web.reload import Runtime


def step_prompts(step: m.AnyStep, attempt: int) -> list[str]:
    """The prompt ids a caller hears on `attempt` of `step` (retries use the retry prompts)."""
    if isinstance(step, m.AskStep | m.MenuStep):
        spec = step.ask if isinstance(step, m.AskStep) else step.menu
        if attempt > 1 and spec.retry_prompts:
            return [spec.retry_prompts[min(attempt - 2, len(spec.retry_prompts) - 1)]]
        return [spec.prompt]
    if isinstance(step, m.PlayStep):
        return list(step.play)
    if isinstance(step, m.RouteStep) and step.say:
        return [step.say]
    if isinstance(step, m.HangupStep) and step.hangup.say:
        return [step.hangup.say]
    return []


class RuntimeFlows:
    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime

    def flows(self) -> dict[str, m.FlowFile]:
        registry = self._runtime().loaded.registry
        return {flow_id: registry.current(flow_id).flow for flow_id in registry.flow_ids()}

    def heard(
        self, flow_id: str, version: str, step: str, attempt: int, language: str
    ) -> str | None:
        loaded = self._runtime().loaded
        try:
            flow = loaded.registry.version(flow_id, version).flow
        except UnknownFlow:
            return None
        found = next((s for _, _, s in flow.all_steps() if s.step == step), None)
        if found is None:
            return None
        entries = loaded.catalog.entries
        words = entries.get(language) or next(iter(entries.values()), {})
        texts = [words[p].text for p in step_prompts(found, attempt) if p in words]
        return " ".join(texts) or None
