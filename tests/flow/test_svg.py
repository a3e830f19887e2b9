"""The flow as SVG: every step and exit, counts from a journal, `ivr diagram --format svg`."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from ivr.flow.diagram import flow_graph
from ivr.flow.loader import load_flow
from ivr.flow.svg import FlowCounts, render_svg
from ivr.journal.store import open_store
from ivr.journal.synthetic import CallScript, build_call
from tests.flow.helpers import ROOT, repo_context

SVG = "{http://www.w3.org/2000/svg}"
DAY = 1_717_286_400.0  # 2024-06-02 00:00 UTC


def idv() -> object:
    return load_flow(ROOT / "flows" / "idv.yaml", repo_context()).flow


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # well-formed XML, or this raises


def test_every_step_and_exit_is_drawn_with_an_accessible_name() -> None:
    flow = load_flow(Path(__file__).with_name("all_kinds.yaml"), repo_context()).flow
    root = parse(render_svg(flow))
    assert root.get("role") == "group"  # it holds focusable steps: not a flat image
    assert root.find(f"{SVG}title") is not None
    drawn = {g.get("data-node") for g in root.iter(f"{SVG}g") if g.get("data-node")}
    assert drawn == {n.node_id for n in flow_graph(flow).nodes}
    steps = [g for g in root.iter(f"{SVG}g") if g.get("class") == "step"]
    assert {g.get("data-step") for g in steps} == {s.step for _, _, s in flow.all_steps()}
    assert all(g.get("tabindex") == "0" and g.get("aria-label") for g in steps)
    edges = {
        (g.get("data-source"), g.get("data-target"))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "edge-group"
    }
    assert edges == {(e.source, e.target) for e in flow_graph(flow).edges}


def test_counts_show_on_steps_and_edges() -> None:
    counts = FlowCounts(
        calls=200,
        reached={"by_ani": 200, "account_number": 120, "date_of_birth": 150},
        outcomes={("by_ani", "found"): 80, ("by_ani", "not_found"): 100, ("by_ani", "many"): 20},
    )
    root = parse(render_svg(idv(), counts))  # type: ignore[arg-type]
    labels = {g.get("data-step"): g.get("aria-label") for g in root.iter(f"{SVG}g")}
    assert labels["account_number"] == (
        "step account_number: reached by 120 calls (60%); show calls that ended here"
    )
    by_edge = {
        (g.get("data-source"), g.get("data-target")): g.get("data-count")
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "edge-group" and g.get("data-outcomes") != "skipped"
    }
    # not_found, many and error go the same way: drawn once, counted together
    assert by_edge[("s_by_ani", "s_account_number")] == "120"
    assert by_edge[("s_by_ani", "s_date_of_birth")] == "80"


def test_the_command_draws_counts_from_a_journal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/journal.db"

    async def fill() -> None:
        store = await open_store(url)
        for i in range(3):
            await store.append(
                build_call(CallScript(f"c{i}", DAY + i, ani_found=True, verify=["verified"]))
            )
        await store.append(
            build_call(CallScript("x", DAY + 9, ani_found=False, account=["dont_have"]))
        )
        await store.close()

    import asyncio

    asyncio.run(fill())
    out = tmp_path / "idv.svg"
    command = [sys.executable, "-m", "ivr.cli.main", "diagram", str(ROOT / "flows" / "idv.yaml")]
    done = subprocess.run(
        [*command, "--format", "svg", "--journal", url, "--from", "2024-06-02",
         "--to", "2024-06-02", "--output", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    root = parse(out.read_text())
    labels = {g.get("data-step"): g.get("aria-label") for g in root.iter(f"{SVG}g")}
    assert labels["by_ani"].startswith("step by_ani: reached by 4 calls (100%)")
    assert labels["account_number"].startswith("step account_number: reached by 1 calls (25%)")
    bad = subprocess.run(
        [*command, "--format", "svg", "--journal", url, "--from", "June"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "ivr diagram:" in bad.stderr
