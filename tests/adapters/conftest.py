"""Fixtures for adapter tests: a tiny aiohttp app that mounts one adapter on loopback.

The app does only what the server core does around an adapter (parse -> 400/403, render),
so parse and render are exercised over real HTTP requests without the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr.adapters.base import Adapter, BadRequest, RenderContext, Unauthorized
from ivr.bootstrap import Project
from ivr.cli.main import main
from ivr.directory.csv_import import import_file
from ivr.engine.actions import Action, PromptRef
from ivr.web.app import create_app
from ivr.web.settings import ServeSettings

from .server import ROOT

ACTION_URL = "https://ivr.example.com/gw/gather?call=CA1"
LANGUAGE = "en-GB"


def recorded_prompt_url(prompt: PromptRef) -> str | None:
    """Prompts with audio are served from the engine; the others are spoken by TTS."""
    if prompt.audio is None:
        return None
    return f"https://ivr.example.com/prompts/{LANGUAGE}/{prompt.prompt_id}.wav"


def context(action_url: str = ACTION_URL) -> RenderContext:
    return RenderContext(
        call_id="CA1", language=LANGUAGE, action_url=action_url, prompt_url=recorded_prompt_url
    )


def mount(
    adapter: Adapter, actions: Sequence[Action] = (), *, public_url: str | None = None
) -> web.Application:
    """An app answering parse results as JSON (and `?render=1`: the rendered `actions`).

    The URL handed to `parse` is built as the server's HTTP glue builds it: the public URL
    (or the request's own scheme and host) and the path and query as received.
    """

    def handler(kind: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            base = public_url.rstrip("/") if public_url else f"{request.scheme}://{request.host}"
            try:
                inbound = adapter.parse(kind, base + request.raw_path, request.headers, body)
            except Unauthorized as error:
                return web.Response(status=403, text=str(error))
            except BadRequest as error:
                return web.Response(status=400, text=str(error))
            if request.rel_url.query.get("render") == "1":
                document = adapter.render(actions, context())
                return web.Response(
                    body=document.body, headers={"Content-Type": document.content_type}
                )
            return web.json_response(
                {
                    "type": type(inbound.event).__name__,
                    "event": asdict(inbound.event),
                    "delivery_key": inbound.delivery_key,
                }
            )

        return handle

    app = web.Application()
    for kind in adapter.kinds:
        app.router.add_post(f"/{adapter.name}/{kind}", handler(kind))
    return app


ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def make_client(aiohttp_client: Any) -> ClientFactory:
    async def factory(app: web.Application) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return factory


ServerFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def demo_db(tmp_path: Path) -> str:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    return str(db)


@pytest.fixture(scope="session")
def built_prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's prompts built once, so recorded prompts are served (never var/)."""
    out = tmp_path_factory.mktemp("prompts-build")
    assert main(["prompts", "build", "--prompts", str(ROOT / "prompts"), "--out", str(out)]) == 0
    return out


@pytest.fixture
def serve(aiohttp_client: Any, demo_db: str, built_prompts: Path) -> ServerFactory:
    """The real server (ivr.web.create_app) on loopback with only the given adapters."""

    async def make(*adapters: Adapter, public_url: str | None = None) -> TestClient[Any, Any]:
        settings = ServeSettings(
            prompts_build=built_prompts,
            project=Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"),
            directory=demo_db,
            journal_url=None,
            webhook_secret=None,
            admin_key=None,
            reports_key=None,
            public_url=public_url,
            adapters=list(adapters),
        )
        client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
        return client

    return make
