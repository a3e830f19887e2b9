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
from typing import Any

from ivr.bootstrap import Loaded, Project, build_engine, load_project
from ivr.calls.metrics import RELOADS
from ivr.directory.port import CustomerDirectory
from ivr.engine.runtime import Engine, EngineSettings
from ivr.flow.loader import FlowLoadError
from ivr.limits.guard import AbuseGuard
from ivr.settings import Settings

_log = logging.getLogger(__name__)


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
            registry = self.loaded.registry  # the engine's: keeps every version loaded so far
            for flow_id in fresh.registry.flow_ids():
                flow = fresh.registry.current(flow_id)
                if (flow_id, flow.version) not in self._fingerprints:
                    registry.add(flow)
                else:  # same version: keep the compiled class calls already run on
                    registry.add(registry.version(flow_id, flow.version))
            self._fingerprints.update(fingerprints)
            self.loaded = Loaded(fresh.config, fresh.catalog, fresh.flows, registry)
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
