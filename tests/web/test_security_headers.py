"""Every report, extract, live view, dashboard and JSON response carries the security headers;
the dashboard's CSP allows its own inline script and style by hash, never 'unsafe-inline'."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from ivr.web.security_headers import page_policy
from tests.web.conftest import Caller, MakeClient

KEY = "headers-test-key"
AUTH = {"X-API-Key": KEY}
PATHS = (
    "/dashboard",
    "/reports/summary",
    "/reports/summary?format=csv",
    "/extracts/calls",
    "/calls/active",
    "/pulse",
    "/metrics",
    "/openapi.json",
    "/healthz",
    "/nowhere",
    "/dashboard/overview",
    "/dashboard.js",
    "/flows/idv",
)


def check_common(headers: object, path: str) -> None:
    get = headers.get  # type: ignore[attr-defined]
    assert get("X-Frame-Options") == "DENY", path
    assert get("X-Content-Type-Options") == "nosniff", path
    assert get("Cache-Control") == "no-store", path
    assert get("Referrer-Policy") == "no-referrer", path
    assert get("Server") == "ivr", path  # not the framework's name and version
    policy = get("Content-Security-Policy")
    assert policy, path
    assert "frame-ancestors 'none'" in policy, path
    assert "unsafe-inline" not in policy, path
    assert "unsafe-eval" not in policy, path


async def test_every_view_sends_the_headers(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(journal_url=f"sqlite:///{tmp_path}/j.db", reports_key=KEY)
    caller = Caller(client)
    await caller.start()
    for path in (*PATHS, f"/calls/{caller.call_id}"):
        for headers in (AUTH, {}):  # the 401 without the key too
            response = await client.get(path, headers=headers)
            check_common(response.headers, path)
    stream = await client.get("/calls/stream", headers=AUTH)
    check_common(stream.headers, "/calls/stream")
    stream.close()
    webhook = await caller.press("01021980#")
    assert webhook  # the webhook answer itself
    await client.close()


async def test_pages_allow_only_their_own_code_and_the_diagram_style(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(journal_url=f"sqlite:///{tmp_path}/j.db", reports_key=KEY)
    pages = {}
    for path in ("/dashboard", "/flows/idv"):
        response = await client.get(path, headers=AUTH)
        assert response.status == 200, path
        assert response.content_type == "text/html"
        pages[path] = (await response.text(), response.headers["Content-Security-Policy"])
    svg = await client.get("/flows/idv/diagram.svg", headers=AUTH)
    diagram = await svg.text()
    await client.close()
    styles = re.findall(r"<style>(.*?)</style>", diagram, re.DOTALL)
    assert styles  # the flow view inlines the diagram, style and all
    for path, (page, policy) in pages.items():
        assert policy.startswith("default-src 'none'"), path
        assert "script-src 'self'" in policy
        assert "connect-src 'self'" in policy
        for body in styles + re.findall(r"<(?:script|style)>(.*?)</", page, re.DOTALL):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy, path
        assert not re.search(r"\son[a-z]+=", page)  # no inline event handler attributes
        assert " style=" not in page  # nor inline style attributes (no hash covers them)


def test_page_policy_hashes_inline_code() -> None:
    policy = page_policy("<html><script>go()</script><style>b{}</style></html>")
    script = base64.b64encode(hashlib.sha256(b"go()").digest()).decode()
    assert f"script-src 'self' 'sha256-{script}'" in policy
    assert "unsafe-inline" not in policy
