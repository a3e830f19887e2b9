"""Compiled flows by id and version: new calls get the current version, running calls keep theirs.

Hot reload adds a version and makes it current; older versions stay until no call needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.flow.compiler import CompiledFlow


class UnknownFlow(KeyError):
    """No flow (or no such version) is loaded."""


@dataclass
class FlowRegistry:
    _current: dict[str, CompiledFlow] = field(default_factory=dict)
    _versions: dict[tuple[str, str], CompiledFlow] = field(default_factory=dict)

    def add(self, flow: CompiledFlow) -> None:
        """Make `flow` the current version of its id (the previous versions stay loaded)."""
        self._current[flow.flow_id] = flow
        self._versions[(flow.flow_id, flow.version)] = flow

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
