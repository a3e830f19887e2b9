"""Published flow versions, shared by every worker: any worker can run any published version.

A call stays on the flow version it started with (architecture rule 7). With several workers
behind one gateway, a call started on a worker that has reloaded (version 2) may send its next
event to a worker still on version 1: that worker has never loaded version 2. So every worker
publishes each version it loads, and a worker that meets a version it does not know fetches it
here, validates and compiles it, and runs the call on it, instead of sending the caller to an
agent.

A published version is immutable and content-addressed: the stored `digest` is the SHA-256 of
the flow's source text, and a version number, once published, keeps its source: a reload that
brings other content under a published number is refused (as a reload of one worker already
refused it). Where versions are kept: Redis when the server shares calls through Redis, else the
journal database (`flow_versions`, journal migration 7).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.journal.store import JournalStore


@dataclass(frozen=True, slots=True)
class PublishedFlow:
    flow_id: str
    version: str
    path: str  # where the publishing worker read it: diagnostics name it
    source: str  # the YAML text

    @property
    def digest(self) -> str:
        return source_digest(self.source)


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class VersionConflict(Exception):
    """Another source is already published under this flow id and version."""


class FlowVersionStore(Protocol):
    async def publish(self, flow: PublishedFlow) -> None:
        """Keep `flow` unless its id and version are published already: the same source is
        fine, another one raises VersionConflict (the published one stays)."""
        ...

    async def get(self, flow_id: str, version: str) -> PublishedFlow | None: ...

    async def close(self) -> None: ...


def _conflict(flow: PublishedFlow, stored_digest: str) -> None:
    if stored_digest != flow.digest:
        raise VersionConflict(
            f"flow {flow.flow_id!r} version {flow.version!r} is already published with other"
            " content: give the changed flow a new version number"
        )


class JournalFlowVersions:
    """Versions in the journal database's `flow_versions` table (SQLite or PostgreSQL)."""

    def __init__(self, store: JournalStore) -> None:
        self.store = store

    async def publish(self, flow: PublishedFlow) -> None:
        await self.store.execute(
            "INSERT INTO flow_versions (flow_id, version, digest, path, source, published_at)"
            " VALUES (:flow_id, :version, :digest, :path, :source, :at)"
            " ON CONFLICT (flow_id, version) DO NOTHING",
            {
                "flow_id": flow.flow_id,
                "version": flow.version,
                "digest": flow.digest,
                "path": flow.path,
                "source": flow.source,
                "at": time.time(),
            },
        )
        rows = await self.store.fetch(
            "SELECT digest FROM flow_versions WHERE flow_id = :flow_id AND version = :version",
            {"flow_id": flow.flow_id, "version": flow.version},
        )
        _conflict(flow, str(rows[0][0]))

    async def get(self, flow_id: str, version: str) -> PublishedFlow | None:
        rows = await self.store.fetch(
            "SELECT path, source, digest FROM flow_versions"
            " WHERE flow_id = :flow_id AND version = :version",
            {"flow_id": flow_id, "version": version},
        )
        if not rows:
            return None
        path, source, digest = rows[0]
        flow = PublishedFlow(flow_id, version, str(path), str(source))
        if flow.digest != digest:  # a row edited by hand: not what was published
            return None
        return flow

    async def close(self) -> None:
        """The journal store is the server's: it closes it."""


class RedisFlowVersions:
    """Versions in Redis: one key per version, `<prefix>flow:<id>:<version>`, set once (NX)."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisFlowVersions:
        import redis.asyncio

        return cls(redis.asyncio.Redis.from_url(url), prefix)

    def _key(self, flow_id: str, version: str) -> str:
        return f"{self.prefix}flow:{flow_id}:{version}"

    async def publish(self, flow: PublishedFlow) -> None:
        key = self._key(flow.flow_id, flow.version)
        doc = {"path": flow.path, "source": flow.source, "digest": flow.digest}
        await self.client.set(key, json.dumps(doc), nx=True)
        stored = await self.get(flow.flow_id, flow.version)
        _conflict(flow, stored.digest if stored is not None else "")

    async def get(self, flow_id: str, version: str) -> PublishedFlow | None:
        raw = await self.client.get(self._key(flow_id, version))
        if raw is None:
            return None
        doc = json.loads(raw)
        flow = PublishedFlow(flow_id, version, str(doc["path"]), str(doc["source"]))
        return flow if flow.digest == doc.get("digest") else None

    async def close(self) -> None:
        await self.client.aclose()
