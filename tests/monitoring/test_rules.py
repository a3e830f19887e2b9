"""The shipped monitoring files: Prometheus rules checked and unit-tested with Debian's promtool,
the Grafana dashboard built by Grafana's foundation SDK and committed as built."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

from grafana_foundation_sdk.models.dashboard import Dashboard

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "prometheus" / "ivr-alerts.yml"
RULE_TESTS = Path(__file__).with_name("ivr-alerts.test.yml")
GRAFANA = ROOT / "monitoring" / "grafana" / "ivr-dashboard.json"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool missing: make test installs Debian's prometheus package"
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, check=False, cwd=RULE_TESTS.parent
    )


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    done = promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    """The check is not a formality: a misspelt function fails it."""
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES.read_text().replace("histogram_quantile", "histogram_quantil", 1))
    assert promtool("check", "rules", str(broken)).returncode != 0


def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_build", GRAFANA.with_name("build.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_grafana_dashboard_is_what_the_sdk_builds() -> None:
    assert GRAFANA.read_text() == builder().text(), "run: python monitoring/grafana/build.py"


def test_the_grafana_dashboard_loads_as_a_dashboard() -> None:
    data = json.loads(GRAFANA.read_text())
    board = Dashboard.from_json(data)
    assert board.uid == "ivr-overview"
    assert board.panels
    assert any(v.name == "datasource" for v in (board.templating.list_val or []))
    titles = [p.title for p in board.panels]
    assert len(titles) == len(set(titles))
    for panel in data["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"]
