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
)


def check_common(headers: object, path: str) -> None:
    get = headers.get  # type: ignore[attr-defined]
    assert get("X-Frame-Options") == "DENY", path
    assert get("X-Content-Type-Options") == "nosniff", path
    assert get("Cache-Control") == "no-store", path
    assert get("Referrer-Policy") == "no-referrer", path
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


async def test_the_dashboard_policy_names_its_inline_code_by_hash(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(journal_url=f"sqlite:///{tmp_path}/j.db", reports_key=KEY)
    response = await client.get("/dashboard", headers=AUTH)
    page = await response.text()
    policy = response.headers["Content-Security-Policy"]
    await client.close()
    assert policy.startswith("default-src 'none'")
    assert "connect-src 'self'" in policy
    for tag in ("script", "style"):
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
        assert bodies, tag
        for body in bodies:
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handler attributes
    assert " style=" not in page  # nor inline style attributes: the hashes cover no attribute


def test_page_policy_without_inline_code_allows_none() -> None:
    policy = page_policy("<html><body>hello</body></html>")
    assert "script-src 'none'" in policy
    assert "style-src 'none'" in policy
