"""`.ci/lowest_constraints.py` pins every direct dependency to its lowest allowed version."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "lowest_constraints.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lowest_constraints", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pins_lower_bounds_and_keeps_markers() -> None:
    pins, unbounded = _module().lowest_pins(
        [
            "aiohttp>=3.11",
            "python-statemachine>=3.2.2,<4",
            "audioop-lts>=0.2.1; python_version>='3.13'",
            "pyjwt[crypto] >= 2.10",
            "grafana-foundation-sdk>=1769699998!10.1.0",
            "somelib",
            "otherlib<2",
        ]
    )
    assert pins == [
        "aiohttp==3.11",
        "python-statemachine==3.2.2",
        "audioop-lts==0.2.1; python_version>='3.13'",
        "pyjwt==2.10",
        "grafana-foundation-sdk==1769699998!10.1.0",
    ]
    assert unbounded == ["somelib", "otherlib<2"]


def test_every_dependency_of_pyproject_is_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = len(project["dependencies"]) + len(project["optional-dependencies"]["dev"])
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) >= wanted  # a marker adds a word, never removes one
    assert all("==" in line for line in done.stdout.splitlines())
