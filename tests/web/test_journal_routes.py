"""The server answers the journal's views at the paths issue 4 names, behind the reports key,
while webhooks, health and metrics stay open."""

from __future__ import annotations

import base64
from pathlib import Path

from ivr.cli.serve import journal_lines
from ivr.web.settings import ServeSettings
from tests.web.conftest import Caller, MakeClient

KEY = "test-reports-key"
VIEWS = (
    "/dashboard",
    "/reports/summary",
    "/extracts/calls",
    "/calls/active",
    "/calls/stream",
    "/calls/some-call",
    "/pulse",
)


async def test_views_at_the_root_need_the_key(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(journal_url=f"sqlite:///{tmp_path}/j.db", reports_key=KEY)
    for path in VIEWS:
        response = await client.get(path)
        assert response.status == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    caller = Caller(client)
    await caller.start()  # the webhook needs the webhook signature, not the reports key
    for path in ("/healthz", "/metrics"):
        assert (await client.get(path)).status == 200, path
    auth = {"Authorization": f"Bearer {KEY}"}
    active = await (await client.get("/calls/active", headers=auth)).json()
    assert [c["call_id"] for c in active["calls"]] == [caller.call_id]
    journey = await (await client.get(f"/calls/{caller.call_id}", headers=auth)).json()
    assert journey["records"][0]["kind"] == "call_started"
    summary = await client.get("/reports/summary", headers={"X-API-Key": KEY})
    assert summary.status == 200
    basic = "Basic " + base64.b64encode(f"manager:{KEY}".encode()).decode()
    page = await client.get("/dashboard", headers={"Authorization": basic})
    assert page.status == 200
    assert page.content_type == "text/html"
    await client.close()


async def test_no_reports_key_no_views(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(journal_url=f"sqlite:///{tmp_path}/j.db", reports_key=None)
    for path in ("/dashboard", "/calls/active", "/journal/dashboard"):
        assert (await client.get(path)).status == 404, path
    await client.close()


def test_serve_prints_the_dashboard_and_how_to_log_in(settings: ServeSettings) -> None:
    base = "http://127.0.0.1:8080"

    def printed(**changes: object) -> str:
        return "\n".join(journal_lines(ServeSettings(**{**settings.__dict__, **changes}), base))

    on = printed(reports_key=KEY, journal_url="sqlite:///j.db")
    assert f"{base}/dashboard" in on
    assert "basic auth" in on
    assert "IVR_REPORTS_KEY" in on
    assert KEY not in on  # the key itself is never printed
    off = printed(reports_key=None, journal_url="sqlite:///j.db")
    assert "IVR_REPORTS_KEY" in off
    assert "/dashboard" not in off
    assert "off" in printed(reports_key=KEY, journal_url=None)
