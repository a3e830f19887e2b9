"""The `ivr` command: one small module per command group, each registering its subcommands.

A command module exposes `register(subparsers)`; each subcommand sets `handler`, a function
taking the parsed arguments and returning the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

# Command groups, in the order `ivr --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "flows",
    "flow_tests",
    "simulate",
    "serve",
    "customers",
    "prompts",
    "journal",
    "callbacks",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivr", description="IVR call-flow engine for caller identification and verification"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"ivr.cli.{module_name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except BrokenPipeError:
        # `ivr validate --json | head`: the reader left; no traceback, and no second error
        # when Python flushes stdout at exit (the Python docs' recipe for SIGPIPE)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
