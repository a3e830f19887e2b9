"""`ivr test`: run `*.test.yaml` cases, print pass/fail per case and the outcome coverage."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ivr.bootstrap import Loaded, Project, load_project
from ivr.flow.loader import FlowLoadError
from ivr.journal.records import JournalRecord
from simulator.cases import CaseFileError, read_case_file, run_case
from simulator.coverage import coverage, format_coverage


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "test", help="run *.test.yaml cases of flows, with outcome coverage"
    )
    parser.add_argument("paths", nargs="+", type=Path, help="test files or folders")
    parser.add_argument("--project", type=Path, default=Path("."), help="folder with flows/ etc.")
    parser.set_defaults(handler=run)


def _test_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.test.yaml")) if path.is_dir() else [path]
    return files


def run(args: argparse.Namespace) -> int:
    root: Path = args.project
    try:
        loaded = load_project(Project(root / "flows", root / "config", root / "prompts"))
    except FlowLoadError as error:
        print(str(error), file=sys.stderr)
        return 1
    return asyncio.run(_run_files(loaded, _test_files(args.paths)))


async def _run_files(loaded: Loaded, files: list[Path]) -> int:
    passed = failed = 0
    for path in files:
        try:
            cases = read_case_file(path)
        except CaseFileError as error:
            print(f"ERROR {error}")
            failed += 1
            continue
        if cases.flow not in loaded.registry.flow_ids():
            print(f"ERROR {path}: no flow {cases.flow!r} in the flows folder")
            failed += 1
            continue
        records: list[JournalRecord] = []
        print(f"{path} ({cases.flow})")
        for case in cases.cases:
            result = await run_case(loaded, cases, case)
            records += result.records
            if result.passed:
                passed += 1
                print(f"  PASS {case.name}")
            else:
                failed += 1
                print(f"  FAIL {case.name}")
                for failure in result.failures:
                    print(f"       {failure}")
        flow = loaded.flows[cases.flow]
        rows = coverage(flow, loaded.registry.current(cases.flow), records)
        print(format_coverage(flow.path, rows))
    print(f"{passed} cases passed, {failed} failed")
    return 0 if failed == 0 else 1
