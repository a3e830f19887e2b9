"""`ivr report`, `ivr extract` and `ivr journal prune`: the call journal from the command line.

The journal is named by `--journal URL`, else $IVR_JOURNAL_URL, else sqlite:///var/journal.db
(relative to the current directory).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import IO, Any

from ivr.journal.extracts import EXTRACTS, extract_csv
from ivr.journal.reports import REPORTS, run_report
from ivr.journal.store import (
    JournalError,
    ReportFilter,
    default_url,
    open_store,
    parse_age,
    parse_day,
)
from ivr.journal.table import render


def _day(text: str) -> Any:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _age(text: str) -> float:
    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _journal_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--journal",
        metavar="URL",
        default=None,
        help="sqlite:///path or postgresql://... (default: $IVR_JOURNAL_URL or "
        "sqlite:///var/journal.db)",
    )


def _filter_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_day", type=_day, metavar="DATE", help="first UTC day")
    parser.add_argument("--to", dest="to_day", type=_day, metavar="DATE", help="last UTC day")
    parser.add_argument("--service-line", metavar="X", help="only this service line")
    parser.add_argument("--flow", metavar="X", help="only this flow id")
    _journal_arg(parser)


def register(subparsers: Any) -> None:
    report = subparsers.add_parser(
        "report",
        help="print a prebuilt report from the call journal",
        description="Dates are YYYY-MM-DD, today, yesterday or Nd (N days ago), UTC, inclusive.",
    )
    report.add_argument("name", choices=sorted(REPORTS), help="which report")
    _filter_args(report)
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.set_defaults(handler=report_command)

    extract = subparsers.add_parser(
        "extract", help="stream a CSV extract: calls (one row per call) or steps"
    )
    extract.add_argument("name", choices=EXTRACTS, help="which extract")
    _filter_args(extract)
    extract.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    extract.set_defaults(handler=extract_command)

    journal = subparsers.add_parser("journal", help="maintain the call journal")
    commands = journal.add_subparsers(dest="journal_command", metavar="SUBCOMMAND", required=True)
    prune = commands.add_parser("prune", help="delete journal data older than an age")
    prune.add_argument(
        "--older-than", type=_age, required=True, metavar="AGE", help="e.g. 90d, 12w, 24h"
    )
    _journal_arg(prune)
    prune.set_defaults(handler=prune_command)


def _filter(args: argparse.Namespace) -> ReportFilter:
    return ReportFilter(args.from_day, args.to_day, args.service_line, args.flow)


def _fail(exc: Exception) -> int:
    print(f"ivr: {exc}", file=sys.stderr)
    return 1


def report_command(args: argparse.Namespace) -> int:
    async def run() -> str:
        store = await open_store(args.journal or default_url())
        try:
            return render(await run_report(store, args.name, _filter(args)), args.format)
        finally:
            await store.close()

    try:
        sys.stdout.write(asyncio.run(run()))
    except (JournalError, OSError) as exc:
        return _fail(exc)
    return 0


def extract_command(args: argparse.Namespace) -> int:
    async def run(out: IO[str]) -> None:
        store = await open_store(args.journal or default_url())
        try:
            async for piece in extract_csv(store, args.name, _filter(args)):
                out.write(piece)
        finally:
            await store.close()

    try:
        if args.output is None:
            asyncio.run(run(sys.stdout))
        else:
            with args.output.open("w", encoding="utf-8", newline="") as out:
                asyncio.run(run(out))
    except (JournalError, OSError) as exc:
        return _fail(exc)
    return 0


def prune_command(args: argparse.Namespace) -> int:
    async def run() -> dict[str, int]:
        store = await open_store(args.journal or default_url())
        try:
            return await store.prune(time.time() - args.older_than)
        finally:
            await store.close()

    try:
        deleted = asyncio.run(run())
    except (JournalError, OSError) as exc:
        return _fail(exc)
    print("deleted " + ", ".join(f"{n} {table}" for table, n in deleted.items()))
    return 0
