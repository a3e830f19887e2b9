"""Fixtures: the callback API on a real loopback server over a real SQLite file or PostgreSQL
schema, a fixed clock, and JWTs as the company's login service would issue them."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr.callbacks.api import CallbackApi, add_routes
from ivr.callbacks.auth import AppAuth
from ivr.callbacks.crypto import SecretBox
from ivr.callbacks.db import open_database
from ivr.callbacks.queues import Queues
from ivr.callbacks.store import CallbackStore
from tests.journal.conftest import pg_url, sqlite_url, store_url

__all__ = ["pg_url", "sqlite_url", "store_url"]

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "test-app-jwt-secret-of-at-least-32-bytes"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC).timestamp()  # a Thursday, the queue is open
SECRET_WORD = "anana"
KEY_1 = base64.b64encode(bytes(range(32))).decode()
KEY_2 = base64.b64encode(bytes(range(32, 64))).decode()


def token(sub: str, **claims: Any) -> str:
    body = {"sub": sub, "exp": int(time.time()) + 600, **claims}
    return jwt.encode(body, JWT_SECRET, algorithm="HS256")


def bearer(sub: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, **claims)}"}


def booking(**overrides: Any) -> dict[str, Any]:
    """The smallest body the app sends (issue 14)."""
    body: dict[str, Any] = {
        "number": "+447700900123",
        "queue": "general",
        "secret": SECRET_WORD,
        "window": {"start": "2026-12-03T11:00:00Z", "end": "2026-12-03T12:00:00Z"},
    }
    body.update(overrides)
    return body


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_text(f"k2:{KEY_2},k1:{KEY_1}")


@pytest.fixture
async def callback_store(store_url: str, box: SecretBox) -> AsyncIterator[CallbackStore]:
    db = await open_database(store_url)
    yield CallbackStore(db, box)
    await db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queues() -> Queues:
    return Queues.load(ROOT / "config")


ApiClient = TestClient[Any, Any]


@pytest.fixture
async def api(
    aiohttp_client: Any, callback_store: CallbackStore, clock: Clock, queues: Queues
) -> ApiClient:
    app = web.Application()
    auth = AppAuth.build(JWT_SECRET, None)
    assert auth is not None
    add_routes(app, CallbackApi(auth, queues, lambda: callback_store, clock))
    client: ApiClient = await aiohttp_client(app)
    return client


Headers = Callable[..., dict[str, str]]
