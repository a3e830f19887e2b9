"""`ivr prompts check|build|tts`: check the catalogue, build telephony audio, make placeholders."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ivr.prompts.build import DEFAULT_BUILD_DIR, BuildReport, build_placeholders, build_recordings
from ivr.prompts.catalog import CatalogError, PromptCatalog
from ivr.prompts.check import check_prompts

DEFAULT_PROMPTS_DIR = Path("prompts")
DEFAULT_FLOWS_DIR = Path("flows")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "prompts", help="check prompts, build telephony audio, generate placeholder speech"
    )
    commands = parser.add_subparsers(dest="prompts_command", metavar="SUBCOMMAND", required=True)

    check = commands.add_parser("check", help="check the catalogue against the flows")
    _prompts_option(check)
    check.add_argument("--flows", type=Path, default=DEFAULT_FLOWS_DIR, help="flows directory")
    _out_option(check, "build directory whose manifest tells which placeholders exist")
    check.add_argument("--quiet", action="store_true", help="print errors and warnings only")
    check.set_defaults(handler=run_check)

    build = commands.add_parser("build", help="convert recordings to 8 kHz PCM and µ-law WAV")
    _prompts_option(build)
    _out_option(build, "where converted files and manifest.json go")
    build.set_defaults(handler=run_build)

    tts = commands.add_parser("tts", help="generate placeholder speech for unrecorded prompts")
    _prompts_option(tts)
    _out_option(tts, "where generated files and manifest.json go")
    tts.set_defaults(handler=run_tts)


def _prompts_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prompts", type=Path, default=DEFAULT_PROMPTS_DIR, help="prompts directory"
    )


def _out_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_BUILD_DIR, help=f"{help_text} (default %(default)s)"
    )


def run_check(args: argparse.Namespace) -> int:
    report = check_prompts(args.prompts, args.flows, args.out)
    for message in report.errors:
        print(f"{message} [error]", file=sys.stderr)
    for message in report.warnings:
        print(f"{message} [warning]", file=sys.stderr)
    if not args.quiet:
        for message in report.notes:
            print(message)
    print(
        f"prompts check: {len(report.errors)} errors, {len(report.warnings)} warnings, "
        f"{len(report.notes)} prompts without a recording"
    )
    return 0 if report.ok else 1


def _load(prompts_dir: Path) -> PromptCatalog | None:
    try:
        return PromptCatalog.load(prompts_dir)
    except CatalogError as error:
        print(f"{error} [error]", file=sys.stderr)
        return None


def _finish(name: str, report: BuildReport, started: float) -> int:
    for message in report.errors:
        print(f"{message} [error]", file=sys.stderr)
    elapsed = time.perf_counter() - started
    print(
        f"prompts {name}: {report.converted} converted, {report.cached} cached, "
        f"{len(report.errors)} errors in {elapsed:.2f}s; manifest {report.manifest_path}"
    )
    return 1 if report.errors else 0


def run_build(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    catalog = _load(args.prompts)
    if catalog is None:
        return 1
    return _finish("build", build_recordings(catalog, args.out), started)


def run_tts(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    catalog = _load(args.prompts)
    if catalog is None:
        return 1
    return _finish("tts", build_placeholders(catalog, args.out), started)
