"""`python -m bench` (`make bench`): run every benchmark module in bench/ and print its figures.

A benchmark is any `bench/*.py` module defining a top-level `main(argv)`; each runs in its
own process with its own (modest) defaults, one after another so they do not compete for the
two cores. Names on the command line pick a subset: `python -m bench webhooks engine`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Modules with a top-level `def main`, found by parsing (nothing is imported here)."""
    names = []
    for path in sorted(HERE.glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            names.append(path.stem)
    return names


def main(argv: list[str] | None = None) -> int:
    wanted = list(sys.argv[1:] if argv is None else argv)
    names = [name for name in discover() if not wanted or name in wanted]
    failed = []
    for name in names:
        print(f"== bench.{name}", flush=True)
        started = time.monotonic()
        code = f"import bench.{name} as m; m.main([])"
        done = subprocess.run([sys.executable, "-c", code], cwd=HERE.parent, check=False)
        print(f"== bench.{name}: {time.monotonic() - started:.1f} s\n", flush=True)
        if done.returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
