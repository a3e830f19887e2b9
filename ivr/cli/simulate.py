"""`ivr simulate`: play a call in the terminal, scripted or at the keyboard, in process or
against a running server (`--url`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ivr.bootstrap import Loaded, Project, build_engine, load_project
from ivr.cli.environment import settings_or_exit
from ivr.engine.actions import Action, CollectDigits, Hangup, Play, Transfer
from ivr.flow.loader import FlowLoadError
from ivr.journal.store import open_store
from ivr.journal.writer import JournalWriter
from simulator.driver import CallDriver
from simulator.local import LocalDriver
from simulator.player import Caller, CallOutcome, play_call, scripted
from simulator.remote import PROTOCOLS, remote_driver
from simulator.script import CallerStep, ScriptError, parse_script

DEFAULT_DB = "var/demo-directory.db"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="play a call through a flow in the terminal",
        description="Play a call: keys as typed (t = no input, h = hang up), or --input.",
    )
    parser.add_argument("flow", nargs="?", type=Path, help="flow file (not with --url)")
    parser.add_argument("--db", default=DEFAULT_DB, help="customer directory (SQLite path/URL)")
    parser.add_argument("--ani", default=None, help="calling number; omit for a withheld one")
    parser.add_argument("--dnis", default=None, help="number called: picks the service line")
    parser.add_argument("--trust", default="unknown", choices=["A", "B", "C", "failed", "unknown"])
    parser.add_argument("--input", dest="script", default=None, help='e.g. "12345678#;timeout;*"')
    parser.add_argument("--json", action="store_true", help="print one JSON result at the end")
    parser.add_argument("--record", type=Path, default=None, help="write what the caller heard")
    parser.add_argument("--url", default=None, help="drive a running server instead")
    parser.add_argument("--protocol", default="json", choices=PROTOCOLS)
    parser.add_argument("--call-id", default=None)
    parser.add_argument(
        "--callback", default=None, help="play this booked callback (the console answers it)"
    )
    parser.add_argument("--project", type=Path, default=Path("."), help="folder with flows/ etc.")
    parser.add_argument(
        "--journal",
        default=None,
        help="journal URL an in-process call is recorded in (default: none, so console "
        "tries never count as calls in the server's reports)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        steps = parse_script(args.script) if args.script is not None else None
    except ScriptError as error:
        print(f"ivr simulate: --input: {error}", file=sys.stderr)
        return 2
    if args.url is None and args.flow is None:
        print("ivr simulate: give a FLOW file, or --url of a running server", file=sys.stderr)
        return 2
    if args.callback and (args.url or args.record):
        print("ivr simulate: --callback plays in process and is never recorded", file=sys.stderr)
        return 2
    loaded: Loaded | None = None
    flow_id: str | None = None
    if args.url is None:
        root: Path = args.project
        try:
            loaded = load_project(
                Project(root / "flows", root / "config", root / "prompts"), extra_flow=args.flow
            )
        except FlowLoadError as error:
            print(str(error), file=sys.stderr)
            return 1
        wanted = args.flow.resolve()
        flow_id = next(
            (f.flow.flow.id for f in loaded.flows.values() if Path(f.path).resolve() == wanted),
            None,
        )
    outcome = asyncio.run(_simulate(args, steps, loaded, flow_id))
    if outcome is None:
        return 1
    if args.record is not None:
        _record(outcome, args)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(_ending(outcome))
    return 0


async def _simulate(
    args: argparse.Namespace,
    steps: list[CallerStep] | None,
    loaded: Loaded | None,
    flow_id: str | None,
) -> CallOutcome | None:
    caller = scripted(steps) if steps is not None else _keyboard(args.json)
    if args.callback and loaded is not None:
        from ivr.cli.simulate_callback import simulate_callback

        return await simulate_callback(args, caller, loaded, flow_id, None if args.json else _show)
    show = None if args.json else _show
    driver, cleanup = await _driver(args, loaded, flow_id)
    try:
        return await play_call(
            driver,
            caller,
            ani=args.ani,
            dnis=args.dnis,
            trust=args.trust,
            call_id=args.call_id,
            on_actions=show,
        )
    finally:
        await driver.close()
        await cleanup()


async def _driver(
    args: argparse.Namespace, loaded: Loaded | None, flow_id: str | None
) -> tuple[CallDriver, Any]:
    if loaded is None:
        return _remote_driver(args), _nothing
    secrets = settings_or_exit("ivr simulate")
    engine, directory = await build_engine(loaded, str(args.db), secrets=secrets)
    url = args.journal  # only when asked: console tries are not the server's calls
    if url is None or url == "none":
        return LocalDriver(engine, flow_id=flow_id), directory.close
    writer = JournalWriter(await open_store(url))
    writer.start()

    async def cleanup() -> None:
        await writer.close()
        await writer.store.close()
        await directory.close()

    return LocalDriver(engine, flow_id=flow_id, journal=writer), cleanup


async def _nothing() -> None:
    return None


def _remote_driver(args: argparse.Namespace) -> CallDriver:
    secrets = settings_or_exit("ivr simulate")
    root: Path = args.project
    project = Project(root / "flows", root / "config", root / "prompts")
    return remote_driver(args.protocol, args.url, project, secrets)


def _keyboard(quiet: bool) -> Caller:
    async def next_step(collect: CollectDigits) -> CallerStep | None:
        hint = f"[{collect.min_digits}-{collect.max_digits} keys"
        hint += f", end with {collect.term_key}" if collect.term_key else ""
        hint += f", {collect.dont_have_key} = don't have" if collect.dont_have_key else ""
        hint += ", t = no input, h = hang up]"
        if not quiet:
            print(f"  {hint}", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return None  # end of input: the caller hangs up
        try:
            steps = parse_script(line.strip() or "timeout")
        except ScriptError as error:
            print(f"  ({error}; taken as no input)", flush=True)
            return CallerStep("timeout")
        return steps[0] if steps else CallerStep("timeout")

    return next_step


def _show(actions: Sequence[Action], shown: Callable[[str], str] = str) -> None:
    """Print what the caller hears; `shown` fills in what only the caller may hear."""
    for action in actions:
        if isinstance(action, Play | CollectDigits):
            for prompt in action.prompts:
                print(f"IVR: {shown(prompt.text)}", flush=True)
        elif isinstance(action, Transfer):
            print(f"IVR: [transfer to {action.kind.value} {action.target}] {action.handoff}")
        elif isinstance(action, Hangup):
            print("IVR: [hangs up]")


def _ending(outcome: CallOutcome) -> str:
    result = outcome.to_json()
    route = result["route"]
    where = route["kind"] if route["target"] is None else f"{route['kind']} ({route['target']})"
    return f"Call ended by {result['ended_by']}: {where}; ID&V status {result['idv_status']}"


def _record(outcome: CallOutcome, args: argparse.Namespace) -> None:
    from simulator.recording import record_call

    record_call(outcome, args.record, args.project / "prompts")
