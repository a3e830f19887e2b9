"""`ivr test`: run `*.test.yaml` cases, print pass/fail per case and the outcome coverage."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ivr.bootstrap import Loaded, Project, load_project
from ivr.cli.environment import settings_or_exit
from ivr.flow.loader import FlowLoadError
from ivr.journal.records import JournalRecord
from simulator.cases import (
    CaseFileError,
    read_case_file,
    remote_blocker,
    run_case,
    run_case_remote,
    unchecked,
)
from simulator.coverage import coverage, format_coverage
from simulator.driver import CallDriver
from simulator.remote import PROTOCOLS, remote_driver


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "test", help="run *.test.yaml cases of flows, with outcome coverage"
    )
    parser.add_argument("paths", nargs="+", type=Path, help="test files or folders")
    parser.add_argument("--project", type=Path, default=Path("."), help="folder with flows/ etc.")
    parser.add_argument(
        "--url", default=None, help="run the cases through a running server instead"
    )
    parser.add_argument("--protocol", default="json", choices=PROTOCOLS)
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
    remote = None
    if args.url is not None:
        project = Project(root / "flows", root / "config", root / "prompts")
        remote = _remote_factory(args.url, args.protocol, project)
    files = _test_files(args.paths)
    untested = _untested_flows(args.paths, files)
    code = asyncio.run(_run_files(loaded, files, remote))
    for flow in untested:
        print(f"NO TESTS {flow}: add {flow.with_suffix('.test.yaml')} (cases for this flow)")
    return code


def _untested_flows(paths: list[Path], files: list[Path]) -> list[Path]:
    """Flow files in the folders given that no `*.test.yaml` names (by `flow:` id)."""
    tested: set[str] = set()
    for file in files:
        try:
            tested.add(read_case_file(file).flow)
        except CaseFileError:
            continue  # reported when the file is run
    untested = []
    for folder in (p for p in paths if p.is_dir()):
        for flow in sorted(folder.glob("*.yaml")):
            if flow.name.endswith(".test.yaml"):
                continue
            try:
                data = yaml.safe_load(flow.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                continue  # `ivr validate` reports it
            info = data.get("flow") if isinstance(data, dict) else None
            flow_id = info.get("id") if isinstance(info, dict) else None
            if isinstance(flow_id, str) and flow_id not in tested:
                untested.append(flow)
    return untested


def _remote_factory(url: str, protocol: str, project: Project) -> Callable[[], CallDriver]:
    secrets = settings_or_exit("ivr test")
    return lambda: remote_driver(protocol, url, project, secrets)


async def _run_files(
    loaded: Loaded, files: list[Path], remote: Callable[[], CallDriver] | None = None
) -> int:
    passed = failed = not_run = 0
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
            blocker = remote_blocker(case, cases) if remote is not None else None
            if blocker is not None:
                not_run += 1
                print(f"  NOT RUN OVER HTTP {case.name}: {blocker}")
                continue
            if remote is not None:
                result = await run_case_remote(remote(), case)
            else:
                result = await run_case(loaded, cases, case)
            records += result.records
            if result.passed:
                passed += 1
                hidden = unchecked(case.expect, result.outcome)
                note = (
                    f" (not observable over this protocol: {', '.join(hidden)})" if hidden else ""
                )
                print(f"  PASS {case.name}{note}")
            else:
                failed += 1
                print(f"  FAIL {case.name}")
                for failure in result.failures:
                    print(f"       {failure}")
        if remote is None:
            flow = loaded.flows[cases.flow]
            rows = coverage(flow, loaded.registry.current(cases.flow), records)
            print(format_coverage(flow.path, rows))
    remark = f" ({not_run} not runnable over HTTP)" if not_run else ""
    print(f"{passed} cases passed, {failed} failed{remark}")
    return 0 if failed == 0 else 1
