"""Print a pip constraints file pinning every direct dependency to its lowest allowed version.

    python .ci/lowest_constraints.py > constraints.txt

Reads pyproject.toml's `dependencies` and `dev` extras: each `name>=X` becomes `name==X`
(markers kept), so `pip install -c constraints.txt -e '.[dev]'` installs the oldest versions
pyproject claims to support and the tests show whether that claim is true (`make lowest`).
A dependency without a lower bound is reported: every one must have one.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*([^;]*?)\s*(;.*)?$")


def lowest_pins(requirements: list[str]) -> tuple[list[str], list[str]]:
    """(`name==lowest; marker` lines, requirements that have no `>=` lower bound)."""
    pins, unbounded = [], []
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            unbounded.append(requirement)
            continue
        name, spec, marker = match.group(1), match.group(2), match.group(3) or ""
        name = name.split("[")[0]
        bound = re.search(r">=\s*([0-9][A-Za-z0-9.!+]*)", spec)  # N! is an epoch
        if bound is None:
            unbounded.append(requirement)
            continue
        pins.append(f"{name}=={bound.group(1)}{marker}")
    return pins, unbounded


def main() -> int:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    pins, unbounded = lowest_pins(requirements)
    for requirement in unbounded:
        print(f"no lower bound: {requirement}", file=sys.stderr)
    print("\n".join(pins))
    return 1 if unbounded else 0


if __name__ == "__main__":
    sys.exit(main())
