"""Serving built prompts over real HTTP on loopback: ETags, 304s, 404s, no traversal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from ivr.prompts.audio import WAVE_FORMAT_MULAW, read_wav_info
from ivr.prompts.build import build_recordings
from ivr.prompts.catalog import PromptCatalog
from ivr.prompts.serve import CACHE_CONTROL, create_prompt_routes

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(prompt_tree: Path, aiohttp_client: AiohttpClient) -> Client:
    out = prompt_tree / "build"
    assert build_recordings(PromptCatalog.load(prompt_tree / "prompts"), out).errors == []
    (prompt_tree / "secret.txt").write_text("not a prompt")
    app = web.Application()
    app.add_routes(create_prompt_routes(out))
    return await aiohttp_client(app)


async def test_prompt_is_served_with_content_hash_etag(client: Client, prompt_tree: Path) -> None:
    body = (prompt_tree / "build" / "en-GB" / "welcome.wav").read_bytes()
    response = await client.get("/prompts/en-GB/welcome.wav")
    assert response.status == 200
    assert await response.read() == body
    assert response.headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
    assert response.headers["Cache-Control"] == CACHE_CONTROL
    assert response.content_type == "audio/wav"


async def test_ulaw_variant_is_served(client: Client) -> None:
    response = await client.get("/prompts/en-GB/ask_number.ulaw.wav")
    assert response.status == 200
    assert read_wav_info(await response.read()).format_tag == WAVE_FORMAT_MULAW


async def test_if_none_match_gives_304_without_body(client: Client) -> None:
    first = await client.get("/prompts/en-GB/welcome.wav")
    etag = first.headers["ETag"]
    again = await client.get("/prompts/en-GB/welcome.wav", headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert again.headers["ETag"] == etag
    weak = await client.get(
        "/prompts/en-GB/welcome.wav", headers={"If-None-Match": f'"other", W/{etag}'}
    )
    assert weak.status == 304
    stale = await client.get("/prompts/en-GB/welcome.wav", headers={"If-None-Match": '"old"'})
    assert stale.status == 200


async def test_head_has_headers_only(client: Client) -> None:
    response = await client.head("/prompts/en-GB/welcome.wav")
    assert response.status == 200
    assert "ETag" in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/prompts/en-GB/nope.wav",
        "/prompts/fr-FR/welcome.wav",
        "/prompts/manifest.json",
        "/prompts/en-GB/welcome.flac",
        "/prompts/.cache",
        "/prompts/../secret.txt",
        "/prompts/en-GB/%2e%2e/%2e%2e/secret.txt",
        "/prompts/en-GB/..%2f..%2fsecret.txt",
        "/prompts//etc/passwd",
    ],
)
async def test_unknown_and_traversal_paths_are_404(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert b"not a prompt" not in await response.read()
