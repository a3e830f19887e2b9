"""`ivr validate`, `ivr schema` and `ivr diagram`: the flow-file commands business users run.

`validate` prints one problem per line in the `file:line:column: error CODE: message` form
editors and CI logs link to, then one summary line per file; `--json` gives the same for tools.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ivr.config import AppConfig, ConfigError, load_config
from ivr.directory.factory import open_directory, sqlite_path
from ivr.directory.port import DeclaresFields, DirectoryError
from ivr.fields import FieldSpec
from ivr.flow.diagram import mermaid
from ivr.flow.json_schema import flow_json_schema_text
from ivr.flow.loader import ValidationContext, expand_paths, load_flows, parse_flow_text
from ivr.flow.model import FlowFile
from ivr.flow.problems import Problem
from ivr.flow.svg import render_svg
from ivr.prompts.catalog import CatalogError, PromptCatalog


def register(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate", help="check flow files and report every problem with its line"
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="flow files or dirs")
    validate.add_argument("--json", action="store_true", help="print the result as JSON")
    validate.add_argument("--strict", action="store_true", help="fail on warnings too")
    validate.add_argument("--config", type=Path, default=None, help="config directory (config/)")
    validate.add_argument("--prompts", type=Path, default=None, help="prompts directory (prompts/)")
    validate.add_argument(
        "--directory",
        default=None,
        help="check fields against this directory (SQLite path or HTTP URL) instead of "
        "config/directory.yaml",
    )
    validate.set_defaults(handler=run_validate)

    schema = subparsers.add_parser("schema", help="print the JSON Schema of flow files")
    schema.add_argument("--output", type=Path, default=None, help="write to this file")
    schema.set_defaults(handler=run_schema)

    diagram = subparsers.add_parser(
        "diagram", help="draw a flow: Mermaid text, or SVG with counts from a journal"
    )
    diagram.add_argument("flow", type=Path, metavar="FLOW", help="flow file")
    diagram.add_argument("--output", type=Path, default=None, help="write to this file")
    diagram.add_argument("--format", choices=("mermaid", "svg"), default="mermaid")
    diagram.add_argument(
        "--journal", default=None, help="with --format svg: count calls from this journal URL"
    )
    diagram.add_argument("--from", dest="from_day", default=None, help="first day (YYYY-MM-DD)")
    diagram.add_argument("--to", dest="to_day", default=None, help="last day (YYYY-MM-DD)")
    diagram.add_argument("--service-line", default=None, help="count this service line only")
    diagram.set_defaults(handler=run_diagram)


def _context(args: argparse.Namespace) -> ValidationContext:
    """Config and prompts to check against; a directory given must exist, a default may not."""
    config: AppConfig | None = None
    catalog: PromptCatalog | None = None
    config_dir = args.config or Path("config")
    if args.config is not None or (config_dir / "routes.yaml").exists():
        config = load_config(config_dir)
    prompts_dir = args.prompts or Path("prompts")
    if args.prompts is not None and not prompts_dir.is_dir():
        raise CatalogError(f"{prompts_dir}: no such directory")
    if prompts_dir.is_dir():
        catalog = PromptCatalog.load(prompts_dir)
    fields = asyncio.run(_directory_fields(args.directory)) if args.directory else None
    return ValidationContext(catalog=catalog, config=config, fields=fields)


async def _directory_fields(url_or_path: str) -> dict[str, FieldSpec]:
    """The fields a live directory declares (`GET /fields`, or what the import stored)."""
    path = sqlite_path(url_or_path)
    if path is not None and not Path(path).is_file():  # noqa: ASYNC240 - a CLI, once
        raise DirectoryError(f"{path}: no such directory file")
    directory = await open_directory(url_or_path, lockout_db=":memory:")
    try:
        if not isinstance(directory, DeclaresFields):
            raise DirectoryError("this directory does not say which fields it holds")
        return await directory.fields()
    finally:
        await directory.close()


def run_validate(args: argparse.Namespace) -> int:
    try:
        context = _context(args)
    except (ConfigError, CatalogError, DirectoryError) as error:
        print(f"ivr validate: {error}", file=sys.stderr)
        return 2
    files = [str(path) for path in expand_paths(args.paths)]
    if not files:
        print("ivr validate: no flow files found", file=sys.stderr)
        return 2
    loaded, problems = load_flows(args.paths, context)
    steps = {flow.path: len(flow.flow.all_steps()) for flow in loaded.values()}
    summaries = [_summary(file, problems, steps.get(file)) for file in files]
    errors = sum(1 for problem in problems if problem.is_error)
    warnings = len(problems) - errors
    if args.json:
        report = {
            "ok": errors == 0,
            "files": summaries,
            "problems": [problem.to_json() for problem in problems],
        }
        print(json.dumps(report, indent=2))
    else:
        for problem in problems:
            print(problem.format())
        for summary in summaries:
            print(_summary_line(summary))
    return 1 if errors or (args.strict and warnings) else 0


def _summary(file: str, problems: list[Problem], steps: int | None) -> dict[str, Any]:
    mine = [problem for problem in problems if problem.file == file]
    errors = sum(1 for problem in mine if problem.is_error)
    return {
        "path": file,
        "ok": errors == 0 and steps is not None,
        "steps": steps,
        "errors": errors,
        "warnings": len(mine) - errors,
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _summary_line(summary: dict[str, Any]) -> str:
    if summary["ok"]:
        text = f"{summary['path']}: ok ({_plural(summary['steps'], 'step')})"
        if summary["warnings"]:
            text += f", {_plural(summary['warnings'], 'warning')}"
        return text
    parts = [_plural(summary["errors"], "error")]
    if summary["warnings"]:
        parts.append(_plural(summary["warnings"], "warning"))
    return f"{summary['path']}: " + ", ".join(parts)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")


def run_schema(args: argparse.Namespace) -> int:
    _write(flow_json_schema_text(), args.output)
    return 0


def run_diagram(args: argparse.Namespace) -> int:
    try:
        text = args.flow.read_text(encoding="utf-8")
    except OSError as error:
        print(f"ivr diagram: {args.flow}: {error.strerror}", file=sys.stderr)
        return 2
    parsed = parse_flow_text(text, str(args.flow))
    if parsed.flow is None or parsed.problems:
        for problem in parsed.problems:
            print(problem.format(), file=sys.stderr)
        print(
            f"ivr diagram: fix the problems above first (ivr validate {args.flow})", file=sys.stderr
        )
        return 1
    if args.format == "mermaid":
        _write(mermaid(parsed.flow), args.output)
        return 0
    from ivr.journal.store import JournalError

    try:
        svg = asyncio.run(_svg(parsed.flow, args))
    except (ValueError, JournalError, OSError) as error:
        print(f"ivr diagram: {error}", file=sys.stderr)
        return 2
    _write(svg, args.output)
    return 0


async def _svg(flow: FlowFile, args: argparse.Namespace) -> str:
    """The flow as SVG, with the journal's counts for the period when a journal is named."""
    if not args.journal:
        return render_svg(flow)
    from ivr.journal.dashboard_data import Period, flow_counts
    from ivr.journal.store import ReportFilter, open_store, parse_day

    flt = ReportFilter(
        from_day=parse_day(args.from_day) if args.from_day else None,
        to_day=parse_day(args.to_day) if args.to_day else None,
        service_line=args.service_line,
    )
    scoped = Period.of(flt).applied(flt)
    store = await open_store(args.journal)
    try:
        counts = await flow_counts(store, replace(scoped, flow=flow.flow.id))
    finally:
        await store.close()
    return render_svg(flow, counts)
