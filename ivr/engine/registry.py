"""Compiled flows by id and version: new calls get the current version, running calls keep theirs.

Hot reload adds a version and makes it current; older versions stay until no call needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.flow.machine import CompiledFlow


class UnknownFlow(KeyError):
    """No flow (or no such version) is loaded."""


class VersionConflict(ValueError):
    """A flow changed but kept its version: running calls would change under their feet."""


@dataclass
class FlowRegistry:
    _current: dict[str, CompiledFlow] = field(default_factory=dict)
    _versions: dict[tuple[str, str], CompiledFlow] = field(default_factory=dict)

    def add(self, flow: CompiledFlow) -> None:
        """Make `flow` the current version of its id (the previous versions stay loaded).

        A published version is immutable: the same id and version with other content is
        refused, so a reload can never change the flow of a call in progress.
        """
        key = (flow.flow_id, flow.version)
        known = self._versions.get(key)
        if known is not None and known.digest != flow.digest:
            raise VersionConflict(
                f"flow {flow.flow_id!r} changed but its version is still {flow.version!r}: "
                "bump flow.version so calls in progress keep the version they started with"
            )
        self._current[flow.flow_id] = flow
        self._versions[key] = flow

    def keep(self, flow: CompiledFlow) -> None:
        """Add a version for the calls that run on it without making it current (a version
        another worker published: new calls here stay on this worker's current one)."""
        key = (flow.flow_id, flow.version)
        known = self._versions.get(key)
        if known is not None and known.digest != flow.digest:
            raise VersionConflict(f"flow {flow.flow_id!r} version {flow.version!r} differs")
        self._versions[key] = flow

    def has(self, flow_id: str, version: str) -> bool:
        return (flow_id, version) in self._versions

    def current(self, flow_id: str) -> CompiledFlow:
        try:
            return self._current[flow_id]
        except KeyError:
            raise UnknownFlow(f"no flow {flow_id!r} is loaded") from None

    def version(self, flow_id: str, version: str) -> CompiledFlow:
        try:
            return self._versions[(flow_id, version)]
        except KeyError:
            raise UnknownFlow(f"flow {flow_id!r} version {version!r} is not loaded") from None

    def flow_ids(self) -> list[str]:
        return sorted(self._current)
