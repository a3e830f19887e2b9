"""`ivr serve`: run the webhook server (also `python -m ivr.cli.serve`).

`ivr serve --check-config` prints the effective settings (options and `IVR_*` variables,
secrets masked) and exits: 0 when they can be used, 2 with one line per wrong value.

Signals: SIGHUP reloads flows, prompts and config; SIGTERM and SIGINT (Ctrl-C) drain
(readiness fails at once, calls in progress are served until they end or the drain limit
passes) then exit; a second SIGINT or SIGTERM stops at once.

Before listening, a SQLite directory is checked against the configured keys: when none of them
made its stored answers, every verification would fail, so the server refuses to start
(`--allow-key-mismatch` overrides).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.bootstrap import Project
from ivr.cli.environment import settings_or_exit
from ivr.config import ConfigError, environment_references, load_config
from ivr.directory.factory import check_directory_keys
from ivr.directory.hashing import KeyRing
from ivr.directory.port import DirectoryError
from ivr.directory.sqlite_store import KeyMismatch
from ivr.sessions import SessionError
from ivr.settings import (
    Settings,
    SettingsError,
    config_environment,
    load_settings,
    mask_url,
    unknown_variables,
)
from ivr.web.app import create_app
from ivr.web.keys import ADAPTERS, DRAIN, RUNTIME
from ivr.web.logs import setup_logging
from ivr.web.settings import REPORTS_KEY_ENV, ServeSettings
from ivr.web.shedding import start_guarded_site

_log = logging.getLogger("ivr.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=Path("config"), help="config folder")
    parser.add_argument("--flows", type=Path, default=Path("flows"), help="flows folder")
    parser.add_argument("--prompts", type=Path, default=Path("prompts"), help="prompts folder")
    parser.add_argument("--prompts-build", type=Path, default=Path("var/prompts-build"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", default="var/demo-directory.db", help="directory path or URL")
    parser.add_argument("--redis", default=None, help="redis://... to share calls between workers")
    parser.add_argument("--redis-prefix", default="ivr:")
    parser.add_argument(
        "--journal", default=None, help="journal URL, 'none' to disable (default: IVR_JOURNAL_URL)"
    )
    parser.add_argument("--public-url", default=None, help="the URL gateways call us by")
    parser.add_argument("--drain-limit", type=float, default=30.0, help="seconds (SIGTERM)")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--header-timeout", type=float, default=5.0, help="seconds for a head")
    parser.add_argument("--body-timeout", type=float, default=5.0, help="seconds for a body")
    parser.add_argument("--keepalive", type=float, default=75.0, help="idle seconds allowed")
    parser.add_argument(
        "--max-connections", type=int, default=None, help="default: file limit less 64"
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="print the effective settings (secrets masked) and exit: 0 if usable, 2 if not",
    )
    parser.add_argument(
        "--allow-key-mismatch",
        action="store_true",
        help="start even if no IVR_SECRET_KEY made the directory's answers",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the webhook server for telephony gateways")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def settings_from(args: argparse.Namespace, env: Settings | None = None) -> ServeSettings:
    """The server's settings: the command line's options over the `IVR_*` settings `env`."""
    env = env or Settings.defaults()
    journal = env.journal_url if args.journal is None else args.journal
    return ServeSettings(
        project=Project(flows=args.flows, config=args.config, prompts=args.prompts),
        directory=args.db,
        redis_url=args.redis,
        redis_prefix=args.redis_prefix,
        journal_url=None if journal in ("", "none") else journal,
        public_url=args.public_url,
        drain_limit_s=args.drain_limit,
        prompts_build=args.prompts_build,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        keepalive_s=args.keepalive,
        max_connections=args.max_connections,
        webhook_secret=env.reveal(env.webhook_secret),
        admin_key=env.reveal(env.admin_key),
        reports_key=env.reveal(env.reports_key),
        env=env,
    )


def check_config(args: argparse.Namespace) -> int:
    """Print what the server would run with; 2 and the reasons when a value is wrong."""
    try:
        env = load_settings()
    except SettingsError as error:
        for problem in error.problems:
            print(f"ivr serve: {problem}", file=sys.stderr)
        return 2
    settings = settings_from(args, env)
    problems: list[str] = []
    try:
        load_config(settings.project.config)
    except ConfigError as error:
        problems.append(f"config: {error}")
    references = environment_references(settings.project.config)
    print("ivr serve: effective settings (secrets masked)")
    for option, value in _options(args, settings):
        print(f"  {option:<26} {value}")
    for variable, shown, meaning in env.describe():
        print(f"  {variable:<26} {shown}    # {meaning}")
    environ = config_environment()
    for file_name, variable, default in references:
        given = environ.get(variable)
        used = given if given is not None else f"{default} (default)"
        print(f"  {variable:<26} {mask_url(used)}    # ${{{variable}}} in {file_name}")
    for variable in unknown_variables({name for _, name, _ in references}):
        print(f"  warning: {variable} is set but no setting or config file uses it (a typo?)")
    for problem in problems:
        print(f"ivr serve: {problem}", file=sys.stderr)
    return 2 if problems else 0


def _options(args: argparse.Namespace, settings: ServeSettings) -> list[tuple[str, str]]:
    journal = mask_url(settings.journal_url) if settings.journal_url else "off"
    return [
        ("--host / --port", f"{args.host}:{args.port}"),
        ("--flows", str(settings.project.flows)),
        ("--config", str(settings.project.config)),
        ("--prompts", str(settings.project.prompts)),
        ("--db", mask_url(str(settings.directory))),
        ("--redis", mask_url(settings.redis_url) if settings.redis_url else "off (in memory)"),
        ("--journal", journal),
        ("--public-url", settings.public_url or "(none)"),
        ("--drain-limit", f"{settings.drain_limit_s:g} s"),
    ]


def journal_lines(settings: ServeSettings, base: str) -> list[str]:
    """Where the dashboard and reports are, and how to log in (or why they are off)."""
    if not settings.journal_url:
        return ["  journal  off (--journal none): no dashboard or reports"]
    if not settings.reports_key:
        return [f"  journal  dashboard and reports off: set {REPORTS_KEY_ENV} to serve them"]
    return [
        f"  journal  {base}/dashboard  (basic auth: any user name, {REPORTS_KEY_ENV} as password)",
        f"  journal  {base}/reports/summary, {base}/calls/active, {base}/calls/stream",
    ]


def run(args: argparse.Namespace) -> int:
    if args.check_config:
        return check_config(args)
    setup_logging(args.log_level)
    env = settings_or_exit("ivr serve")
    try:
        asyncio.run(check_directory_keys(args.db, KeyRing.from_settings(env)))
    except KeyMismatch as error:
        if not args.allow_key_mismatch:
            print(
                f"ivr serve: {args.db}: {error} (--allow-key-mismatch starts anyway)",
                file=sys.stderr,
            )
            return 2
        _log.error("starting with --allow-key-mismatch: %s", error)
    except DirectoryError as error:
        print(f"ivr serve: {args.db}: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(settings_from(args, env), args.host, args.port))
    except SessionError as error:  # a wrong --redis URL or a Redis that is down: one line
        print(f"ivr serve: session store: {error}", file=sys.stderr)
        return 2


async def serve(settings: ServeSettings, host: str, port: int) -> int:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=settings.keepalive_s,
        lingering_time=0,  # a body we refused (408, 413) is not read on: the socket closes
    )
    await runner.setup()
    gc.collect()
    gc.freeze()  # the startup objects (flows, classes, modules) leave the collector's scans:
    # full collections then walk only what calls allocate, not the whole program (tail latency)
    await start_guarded_site(runner, host, port)  # read deadlines and a connection cap
    base = f"http://{host}:{port}"
    print(f"ivr serve: listening on {base}", flush=True)
    for adapter in app[ADAPTERS]:
        for kind in adapter.kinds:
            print(f"  webhook  {base}/{adapter.name}/{kind}", flush=True)
    if settings.env.jambonz_ws_credentials() is not None:
        print(f"  socket   ws://{host}:{port}/jambonz/ws  (jambonz WebSocket API)", flush=True)
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/idv/tokens/verify"):
        print(f"  service  {base}{path}", flush=True)
    for line in journal_lines(settings, base):
        print(line, flush=True)
    if settings.env.agent_key is not None and settings.journal_url:
        print(f"  step-up  {base}/step-ups  (agent key; docs/step-up-api.md)", flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    drain = asyncio.Event()
    reloads: set[asyncio.Task[Any]] = set()

    def reload() -> None:
        task = loop.create_task(app[RUNTIME].reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    def terminate() -> None:
        if drain.is_set():  # asked twice: stop now
            stop.set()
            return
        app[DRAIN].begin()  # readiness fails now, before the loop gets to the drain
        drain.set()
        busy = app[DRAIN].busy()
        if busy:
            print(f"ivr serve: draining {busy} call(s); signal again to stop now", flush=True)

    loop.add_signal_handler(signal.SIGHUP, reload)
    loop.add_signal_handler(signal.SIGTERM, terminate)
    loop.add_signal_handler(signal.SIGINT, terminate)  # Ctrl-C on `make run` drains too
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(drain.wait())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    if drain.is_set() and not stop.is_set():
        drained = app[DRAIN].wait()
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(drained), stopping], return_when=asyncio.FIRST_COMPLETED
        )
        stopping.cancel()
    await runner.cleanup()
    _log.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivr serve", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
