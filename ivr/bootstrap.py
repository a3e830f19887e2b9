"""Assemble an engine from the project's folders: flows/, config/, prompts/ and a directory.

Used by every entry point (console simulator, test runner, webhook server) so that they all
run the same flows the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ivr.config import AppConfig, load_config
from ivr.directory.factory import open_directory
from ivr.directory.port import CustomerDirectory
from ivr.engine.directory_ops import registry_for
from ivr.engine.registry import FlowRegistry
from ivr.engine.runtime import Engine, EngineSettings
from ivr.flow.compiler import compile_flow
from ivr.flow.loader import FlowLoadError, LoadedFlow, ValidationContext, load_flow, load_flows
from ivr.limits.guard import BACKSTOP, AbuseGuard
from ivr.prompts.catalog import PromptCatalog
from ivr.tokens import TokenIssuer, token_key


@dataclass(frozen=True)
class Project:
    """Where a deployment's files are; the defaults are this repository's folders."""

    flows: Path = Path("flows")
    config: Path = Path("config")
    prompts: Path = Path("prompts")

    @classmethod
    def from_environment(cls) -> Project:
        return cls(
            flows=Path(os.environ.get("IVR_FLOWS_DIR", "flows")),
            config=Path(os.environ.get("IVR_CONFIG_DIR", "config")),
            prompts=Path(os.environ.get("IVR_PROMPTS_DIR", "prompts")),
        )


@dataclass
class Loaded:
    config: AppConfig
    catalog: PromptCatalog
    flows: dict[str, LoadedFlow]
    registry: FlowRegistry


def load_project(project: Project, extra_flow: Path | None = None) -> Loaded:
    """Load config, prompts and the flows folder, validate and compile; raise FlowLoadError.

    `extra_flow` (a flow file being tried out, possibly outside the folder) is loaded last
    and becomes the current version of its flow id.
    """
    config = load_config(project.config)
    catalog = PromptCatalog.load(project.prompts)
    context = ValidationContext(catalog=catalog, config=config)
    loaded: dict[str, LoadedFlow] = {}
    if project.flows.is_dir():
        loaded, problems = load_flows([project.flows], context)
        errors = [problem for problem in problems if problem.severity == "error"]
        if errors:
            raise FlowLoadError(errors)
    if extra_flow is not None and extra_flow.resolve().parent != project.flows.resolve():
        others = {flow.flow.flow.id: flow.flow for flow in loaded.values()}
        extra = load_flow(extra_flow, replace(context, flows=others))
        loaded[extra.flow.flow.id] = extra
    registry = FlowRegistry()
    for flow in loaded.values():
        registry.add(compile_flow(flow.flow, flow.path, flow.step_lines))
    return Loaded(config=config, catalog=catalog, flows=loaded, registry=registry)


async def build_engine(
    loaded: Loaded,
    directory: CustomerDirectory | str,
    settings: EngineSettings | None = None,
    guard: AbuseGuard | None = None,
) -> tuple[Engine, CustomerDirectory]:
    """An engine over `loaded`, with the directory opened from a path/URL if one is given.

    With a `guard` (the server has one) the directory operations run under the rate limits
    and fair lockout of ivr.limits, and the directory's own lockout becomes the backstop."""
    if isinstance(directory, str):
        policy = BACKSTOP if guard is not None else None
        opened = await open_directory(directory, policy=policy)
    else:
        opened = directory
    operations = registry_for(opened)
    engine = Engine(
        flows=loaded.registry,
        config=loaded.config,
        catalog=loaded.catalog,
        operations=operations,
        tokens=TokenIssuer(token_key()),
        settings=settings,
    )
    if guard is not None:
        guard.wrap(operations, lambda: engine.config)
    return engine, opened
