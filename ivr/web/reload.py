"""The running project (flows, prompts, config, engine) and its hot reload.

A reload loads and validates everything off the event loop, then swaps it in at once. A
flow that fails validation refuses the whole reload: the errors are returned and logged and
the running versions stay. New calls get the new current version; calls in progress keep
the version they started on, which the FlowRegistry keeps. A version number is immutable:
a flow whose content changed under the same version is refused, since calls pinned to that
version would otherwise switch flows mid-call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from ivr.bootstrap import Loaded, Project, build_engine, load_project
from ivr.calls.metrics import RELOADS
from ivr.directory.port import CustomerDirectory
from ivr.engine.registry import VersionConflict as RegistryConflict
from ivr.engine.runtime import Engine, EngineSettings
from ivr.engine.state import CallState
from ivr.flow.checks import ValidationContext
from ivr.flow.compiler import compile_flow
from ivr.flow.loader import FlowLoadError, load_flow_text, parse_flow_text
from ivr.flow.machine import CompiledFlow
from ivr.flow_versions import FlowVersionStore, PublishedFlow, VersionConflict
from ivr.limits.guard import AbuseGuard
from ivr.settings import Settings

_log = logging.getLogger(__name__)
FLOW_FETCHES = Counter(
    "ivr_flow_version_fetches",
    "Flow versions this worker did not know, by result: loaded from the shared store, or not",
    ["result"],
)


@dataclass
class ReloadResult:
    ok: bool
    errors: list[str] = field(default_factory=list)
    flows: dict[str, str] = field(default_factory=dict)  # flow id -> current version

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": self.errors, "flows": self.flows}


def _fingerprints(loaded: Loaded) -> dict[tuple[str, str], Any]:
    return {
        (flow.flow.flow.id, flow.flow.flow.version): flow.flow.model_dump(mode="json")
        for flow in loaded.flows.values()
    }


def _published(loaded: Loaded) -> list[PublishedFlow]:
    """Each loaded flow version with its source, read again from its file: published only if
    that source is what was compiled (a file changed since it was loaded is left out)."""
    out = []
    for flow in loaded.flows.values():
        model = flow.flow
        try:
            source = Path(flow.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parsed = parse_flow_text(source, flow.path).flow
        if parsed is None or parsed.model_dump_json() != model.model_dump_json():
            _log.warning("flow versions: %s changed since it was loaded; not published", flow.path)
            continue
        out.append(PublishedFlow(model.flow.id, model.flow.version, flow.path, source))
    return out


def _compile(published: PublishedFlow, loaded: Loaded) -> CompiledFlow:
    """Validate a published version against this worker's prompts and config, and compile it."""
    others = {flow.flow.flow.id: flow.flow for flow in loaded.flows.values()}
    context = ValidationContext(catalog=loaded.catalog, config=loaded.config, flows=others)
    flow = load_flow_text(published.source, published.path, context)
    return compile_flow(flow.flow, flow.path, flow.step_lines)


class Runtime:
    """Owns the engine and the directory; swaps flows, prompts and config on reload."""

    def __init__(self, project: Project, loaded: Loaded, engine: Engine, directory: Any) -> None:
        self.project = project
        self.loaded = loaded
        self.engine = engine
        self.directory: CustomerDirectory = directory
        self._fingerprints = _fingerprints(loaded)
        self._lock = asyncio.Lock()
        self.hooks: list[Callable[[], Awaitable[None]]] = []  # also reloaded (prompt audio)
        self.shared: FlowVersionStore | None = None  # where versions are published and fetched
        self._fetching: dict[tuple[str, str], asyncio.Task[bool]] = {}
        self._not_found: set[tuple[str, str]] = set()  # logged once each

    @classmethod
    async def open(
        cls,
        project: Project,
        directory: CustomerDirectory | str,
        operation_deadline_s: float,
        secrets: Settings | None = None,
        guard: AbuseGuard | None = None,
    ) -> Runtime:
        loaded = await asyncio.to_thread(load_project, project)
        settings = EngineSettings(operation_deadline_s=operation_deadline_s)
        engine, opened = await build_engine(loaded, directory, settings, secrets, guard)
        return cls(project, loaded, engine, opened)

    # -- published versions (any worker runs any published version) -------------------------
    async def share(self, store: FlowVersionStore) -> None:
        """Publish every version loaded so far to `store` and fetch unknown ones from it."""
        self.shared = store
        for problem in await self._publish(self.loaded):
            _log.error("flow versions: %s", problem)

    async def _publish(self, loaded: Loaded) -> list[str]:
        """Publish each flow version of `loaded`; the conflicts (another source already
        published under the same number). A store that is down is logged, not a conflict."""
        if self.shared is None:
            return []
        conflicts = []
        for flow in await asyncio.to_thread(_published, loaded):
            try:
                await self.shared.publish(flow)
            except VersionConflict as conflict:
                conflicts.append(str(conflict))
            except Exception as error:  # the store is down: this worker still runs its flows
                _log.warning("flow versions: cannot publish: %s", type(error).__name__)
        return conflicts

    def languages_of(self, flow_id: str) -> list[str]:
        """The languages the current version of `flow_id` has prompts in (none: not loaded)."""
        flow = self.loaded.flows.get(flow_id)
        return [] if flow is None else list(flow.flow.flow.languages)

    def missing(self, state: CallState) -> list[tuple[str, str]]:
        """The flow versions a call runs on (and returns to) that this worker has not loaded."""
        registry = self.loaded.registry
        missing = []
        if not registry.has(state.flow_id, state.flow_version):
            missing.append((state.flow_id, state.flow_version))
        for frame in state.stack:
            if not registry.has(frame.flow_id, frame.flow_version):
                missing.append((frame.flow_id, frame.flow_version))
        return missing

    async def fetch(self, keys: list[tuple[str, str]]) -> bool:
        """Load versions another worker published; False if one cannot be had (the caller is
        then routed on, and the log says which version, once)."""
        for key in keys:
            task = self._fetching.get(key)
            if task is None:  # one fetch per version, however many calls wait for it
                task = asyncio.ensure_future(self._fetch(*key))
                self._fetching[key] = task
                task.add_done_callback(partial(self._fetched, key))
            if not await asyncio.shield(task):
                return False
        return True

    def _fetched(self, key: tuple[str, str], _: object) -> None:
        self._fetching.pop(key, None)

    async def _fetch(self, flow_id: str, version: str) -> bool:
        key = (flow_id, version)
        published = None
        if self.shared is not None:
            try:
                published = await self.shared.get(flow_id, version)
            except Exception as error:
                return self._unavailable(key, f"the shared store failed ({type(error).__name__})")
        if published is None:
            return self._unavailable(key, "not published")
        try:
            compiled = await asyncio.to_thread(_compile, published, self.loaded)
            self.loaded.registry.keep(compiled)
        except (FlowLoadError, RegistryConflict) as error:
            return self._unavailable(key, f"it does not load here: {error}")
        FLOW_FETCHES.labels("loaded").inc()
        self._not_found.discard(key)
        _log.info("flow %s version %s loaded from the shared store", flow_id, version)
        return True

    def _unavailable(self, key: tuple[str, str], why: str) -> bool:
        FLOW_FETCHES.labels("unavailable").inc()
        if key not in self._not_found:
            self._not_found.add(key)
            _log.error("flow %s version %s: %s; its calls are routed on", *key, why)
        return False

    def versions(self) -> dict[str, str]:
        registry = self.loaded.registry
        return {flow_id: registry.current(flow_id).version for flow_id in registry.flow_ids()}

    async def reload(self) -> ReloadResult:
        async with self._lock:
            try:
                fresh = await asyncio.to_thread(load_project, self.project)
            except FlowLoadError as error:
                return self._refuse([problem.format() for problem in error.problems])
            except Exception as error:  # config or prompt catalogue errors
                return self._refuse([f"{type(error).__name__}: {error}"])
            fingerprints = _fingerprints(fresh)
            changed = [
                f"flow {flow_id!r} version {version!r} changed without a new version number"
                for (flow_id, version), dump in fingerprints.items()
                if self._fingerprints.get((flow_id, version), dump) != dump
            ]
            if changed:
                return self._refuse(changed)
            conflicts = await self._publish(fresh)
            if conflicts:
                return self._refuse(conflicts)
            registry = self.loaded.registry  # the engine's: keeps every version loaded so far
            for flow_id in fresh.registry.flow_ids():
                flow = fresh.registry.current(flow_id)
                if (flow_id, flow.version) not in self._fingerprints:
                    registry.add(flow)
                else:  # same version: keep the compiled class calls already run on
                    registry.add(registry.version(flow_id, flow.version))
            self._fingerprints.update(fingerprints)
            self.loaded = Loaded(
                fresh.config, fresh.catalog, fresh.flows, registry, fresh.config_dir
            )
            self.engine.config = fresh.config
            self.engine.catalog = fresh.catalog
            for hook in self.hooks:
                await hook()
            RELOADS.labels("ok").inc()
            result = ReloadResult(True, flows=self.versions())
            _log.info("reloaded flows, prompts and config", extra={"flows": result.flows})
            return result

    def _refuse(self, errors: list[str]) -> ReloadResult:
        RELOADS.labels("refused").inc()
        for line in errors:
            _log.error("reload refused: %s", line)
        return ReloadResult(False, errors, self.versions())

    async def close(self) -> None:
        await self.directory.close()
        if self.engine.payments is not None:
            await self.engine.payments.settings.processor.close()
