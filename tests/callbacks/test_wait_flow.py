"""flows/wait.yaml, the callback offer: the wait and the call-back time reach the caller in
words (an operation stub's `values` set prompt values as the real operation does)."""

from __future__ import annotations

from pathlib import Path

from ivr.bootstrap import Project, load_project
from simulator.cases import read_case_file, run_case
from simulator.player import HeardPrompt

ROOT = Path(__file__).resolve().parents[2]


async def test_the_offer_says_the_wait_and_the_booking_says_when() -> None:
    loaded = load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))
    cases = read_case_file(ROOT / "flows" / "wait.test.yaml")
    case = next(c for c in cases.cases if "presses 1" in c.name)
    result = await run_case(loaded, cases, case)
    assert result.failures == []
    assert result.outcome is not None
    heard = [
        item.prompt.text for item in result.outcome.transcript if isinstance(item, HeardPrompt)
    ]
    assert "The wait for an agent is about twelve minutes." in " ".join(heard)
    assert "call you back on this number in about fifteen minutes" in " ".join(heard)
