"""Published flow versions in the journal database (migration 7) and in Redis: set once,
content-addressed, a different source under a published number refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from ivr.flow_versions import (
    FlowVersionStore,
    JournalFlowVersions,
    PublishedFlow,
    RedisFlowVersions,
    VersionConflict,
    source_digest,
)
from ivr.journal.faults import fallback_cause
from ivr.journal.store import open_store
from tests.sessions.conftest import REDIS_URL, delete_keys

SOURCE = "flow:\n  id: idv\n  version: '2'\n"


@pytest.fixture(params=["journal", "redis"])
async def versions(
    request: pytest.FixtureRequest, store_url: str
) -> AsyncIterator[FlowVersionStore]:
    if request.param == "journal":
        store = await open_store(store_url)
        yield JournalFlowVersions(store)
        await store.close()
        return
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    shared = RedisFlowVersions.from_url(REDIS_URL, prefix)
    yield shared
    await shared.close()
    await delete_keys(prefix)


async def test_a_version_is_published_once_and_read_back(versions: FlowVersionStore) -> None:
    assert await versions.get("idv", "2") is None
    flow = PublishedFlow("idv", "2", "flows/idv.yaml", SOURCE)
    await versions.publish(flow)
    await versions.publish(flow)  # the same source again: fine
    got = await versions.get("idv", "2")
    assert got == flow
    assert got is not None
    assert got.digest == source_digest(SOURCE)


async def test_other_content_under_a_published_number_is_refused(
    versions: FlowVersionStore,
) -> None:
    await versions.publish(PublishedFlow("idv", "2", "flows/idv.yaml", SOURCE))
    with pytest.raises(VersionConflict, match="new version number"):
        await versions.publish(PublishedFlow("idv", "2", "flows/idv.yaml", SOURCE + "# edit\n"))
    assert await versions.get("idv", "2") == PublishedFlow("idv", "2", "flows/idv.yaml", SOURCE)


def test_a_missing_version_is_its_own_fallback_cause() -> None:
    assert fallback_cause("flow version not published") == "flow_version"
