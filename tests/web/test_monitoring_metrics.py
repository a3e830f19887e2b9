"""Every metric the shipped alert rules and Grafana panels query is one a real server exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.web.conftest import DEMO_LINE, Caller, MakeClient

ROOT = Path(__file__).resolve().parents[2]
METRIC = re.compile(r"\b(ivr_[a-z0-9_]+)")


def queried_metrics() -> set[str]:
    rules = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "ivr-alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    board = json.loads((ROOT / "monitoring" / "grafana" / "ivr-dashboard.json").read_text())
    exprs += [t["expr"] for p in board["panels"] for t in p.get("targets") or []]
    names = {m for e in exprs for m in METRIC.findall(e)}
    return {n for n in names if not n.startswith("ivr:")}  # recording rules are ours


def exported(text: str) -> set[str]:
    """Sample names /metrics can show, from its TYPE lines (a family may have no sample yet)."""
    names = set()
    for line in text.splitlines():
        if not line.startswith("# TYPE "):
            continue
        _, _, name, kind = line.split(" ", 3)
        names.add(name)
        if kind == "counter":
            names |= {f"{name}_total", f"{name}_created"}
        elif kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
    return names


async def test_every_queried_metric_is_exported(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(journal_url=f"sqlite:///{tmp_path}/journal.db")
    caller = Caller(client)
    await caller.start(dnis=DEMO_LINE)
    await caller.press("01021980#")
    text = await (await client.get("/metrics")).text()
    wanted = queried_metrics()
    assert {"ivr_fallbacks_total", "ivr_webhook_seconds_bucket", "ivr_calls_ended_total"} <= wanted
    missing = wanted - exported(text)
    assert not missing, f"queried but not exported: {sorted(missing)}"


def fallbacks(text: str, cause: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ivr_fallbacks_total" and sample.labels.get("cause") == cause:
                return sample.value
    return 0.0


async def test_a_call_whose_state_is_lost_counts_as_a_session_store_fallback(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    before = fallbacks(await (await client.get("/metrics")).text(), "session_store")
    lost = Caller(client)  # never started: the store has no state for it
    await lost.press("1#")
    after = fallbacks(await (await client.get("/metrics")).text(), "session_store")
    assert after == before + 1


def test_every_exported_metric_is_documented() -> None:
    """docs/operations.md lists every metric family the process registers."""
    import importlib
    import pkgutil

    from prometheus_client import REGISTRY

    import ivr

    for module in pkgutil.walk_packages(ivr.__path__, "ivr."):
        if ".cli." not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    docs = (ROOT / "docs" / "operations.md").read_text()
    families = {f.name for f in REGISTRY.collect() if f.name.startswith("ivr_")}
    assert families
    missing = sorted(f for f in families if f"`{f}`" not in docs and f"`{f}_total`" not in docs)
    assert not missing, f"add to docs/operations.md: {missing}"
