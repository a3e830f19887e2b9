"""The dashboard in headless Chromium against a real server on loopback (issue 4 §3).

Four calls are played over the signed JSON webhook (verified, identified only, not identified,
and one left in progress); the page is opened with the reports key as basic auth in the URL.
Selenium blocks, so the browser runs in a thread while the server keeps serving in the loop.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.browser import chromium
from tests.web.conftest import CARDS_LINE, DEMO_LINE, Caller, MakeClient
from tests.web.png import decode

KEY = "browser-test-reports-key"
AUTH = {"X-API-Key": KEY}
HOURS_BLUE = (0x2F, 0x6F, 0xDE)
FUNNEL_GREEN = (0x3A, 0xA7, 0x76)


async def play_calls(client: TestClient[Any, Any]) -> Caller:
    """Three finished calls, one per ID&V result, and one left waiting for a date of birth."""
    verified = Caller(client)
    await verified.start(dnis=DEMO_LINE)
    await verified.press("01021980#")
    identified_only = Caller(client)
    await identified_only.start(dnis=DEMO_LINE)
    await identified_only.press("*")
    not_identified = Caller(client)
    await not_identified.start(ani=None, dnis=CARDS_LINE)
    for _ in range(3):
        await not_identified.press("00000000#")
    in_progress = Caller(client)
    await in_progress.start(ani=None, dnis=CARDS_LINE)
    await in_progress.press("23456789#")
    return in_progress


async def report(client: TestClient[Any, Any], name: str) -> dict[str, Any]:
    response = await client.get(f"/reports/{name}?from=today&to=today", headers=AUTH)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def written(client: TestClient[Any, Any], calls: int) -> dict[str, float]:
    """The recognition report once the writer has stored `calls` calls (it batches every 0.2 s)."""
    async with asyncio.timeout(10):
        while True:
            rows = (await report(client, "recognition"))["rows"]
            metrics = {r["metric"]: r["value"] for r in rows}
            if metrics["calls"] == calls:
                return metrics
            await asyncio.sleep(0.1)


# The page redraws its charts and the live list every few seconds, so elements are read in one
# script each (a Selenium element handle may go stale between two calls).
BARS = """
return Array.from(document.querySelectorAll(arguments[0] + " rect"), r => {
  const box = r.getBoundingClientRect();
  return [Number(r.dataset.value), box.width, box.height];
});"""
TEXTS = "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);"
BOX = """
const b = document.querySelector(arguments[0]).getBoundingClientRect();
return [b.left, b.top, b.right, b.bottom].map(Math.round);"""


def read(driver: WebDriver, script: str, selector: str) -> Any:
    return driver.execute_script(script, selector)


def text(driver: WebDriver, element_id: str) -> str:
    return str(read(driver, TEXTS, f"#{element_id}")[0])


def click_live_call(driver: WebDriver) -> list[str]:
    """Click the first call of the live list (retrying if it was redrawn meanwhile); its cells."""
    for _ in range(20):
        try:
            row = driver.find_element(By.CSS_SELECTOR, "#active tr.call")
            cells = [str(td.text) for td in row.find_elements(By.TAG_NAME, "td")]
            row.click()
            return cells
        except StaleElementReferenceException:
            time.sleep(0.05)
    raise AssertionError("the live list never held still long enough to click a call")


async def test_dashboard_renders_live_calls_and_charts(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SE_OFFLINE", "true")
    client = await make_client(journal_url=f"sqlite:///{tmp_path}/journal.db", reports_key=KEY)
    live = await play_calls(client)
    metrics = await written(client, 4)
    assert metrics["identified and verified"] == 1
    assert metrics["identified only"] == 1
    assert metrics["not identified"] == 1
    active = (await (await client.get("/calls/active", headers=AUTH)).json())["calls"]
    assert [c["call_id"] for c in active] == [live.call_id]
    step = active[0]["step"]
    assert step
    loop = asyncio.get_running_loop()

    def press_wrong_date() -> None:
        asyncio.run_coroutine_threadsafe(live.press("11111111#"), loop).result(10)

    url = f"http://manager:{KEY}@{client.host}:{client.port}/dashboard"
    shot = tmp_path / "dashboard.png"
    seen = await asyncio.to_thread(browse, url, tmp_path / "profile", shot, press_wrong_date)
    await client.close()

    assert seen["active"] == "1"
    assert seen["callbacks"][:4] == ["due now", "0", "scheduled later", "0"]
    hours = seen["hours"]
    assert len(hours) == 24
    assert sum(v for v, _, _ in hours) == 4
    assert all((h > 0) == (v > 0) for v, _, h in hours)
    assert all(w > 0 for _, w, _ in hours)
    funnel = dict(zip(seen["funnel_names"], seen["funnel"], strict=True))
    assert funnel["calls"][0] == 4
    for name in ("identified and verified", "identified only", "not identified"):
        value, width, _ = funnel[name]
        assert value == 1
        assert width == pytest.approx(funnel["calls"][1] / 4, abs=2)
    assert seen["row"] == [live.call_id, "cards", step]
    assert "call_started" in seen["journey_before"][0]
    assert any(step in line for line in seen["journey_before"])
    after = seen["journey_after"]
    assert len(after) > len(seen["journey_before"])  # live, from /calls/stream
    assert len(set(after)) == len(after)  # the stream does not repeat what the fetch gave
    assert any(line.split()[1:4] == ["operation", "date_of_birth", "wrong"] for line in after)
    assert seen["stream"] == "live"
    assert seen["console"] == []

    image = decode(shot.read_bytes())
    assert image.count(FUNNEL_GREEN, seen["funnel_box"]) > 2000
    assert image.count(HOURS_BLUE, seen["hours_box"]) > 1000


def browse(url: str, profile: Path, shot: Path, act: Any) -> dict[str, Any]:
    """Open the dashboard, wait for the charts, click the live call, act, and record the page."""
    seen: dict[str, Any] = {}
    with chromium(profile) as driver:
        driver.get(url)
        wait = WebDriverWait(driver, 15)
        wait.until(lambda d: len(read(d, BARS, "#hours")) == 24)
        wait.until(lambda d: len(read(d, BARS, "#funnel")) == 7)
        wait.until(lambda d: read(d, TEXTS, "#active tr.call"))
        wait.until(lambda d: text(d, "k-stream") == "live")
        wait.until(lambda d: len(read(d, TEXTS, "#callbacks td")) == 16)
        seen["callbacks"] = read(driver, TEXTS, "#callbacks td")
        seen["active"] = text(driver, "k-active")
        seen["stream"] = text(driver, "k-stream")
        seen["hours"] = read(driver, BARS, "#hours")
        seen["funnel"] = read(driver, BARS, "#funnel")
        seen["funnel_names"] = read(driver, TEXTS, "#funnel text[text-anchor=end]")
        cells = click_live_call(driver)
        seen["row"] = [cells[0], cells[1], cells[3]]
        wait.until(lambda d: journey(d))
        seen["journey_before"] = journey(driver)
        act()
        before = len(seen["journey_before"])
        wait.until(lambda d: len(journey(d)) > before)
        time.sleep(0.3)  # let the last records of the event arrive before the screenshot
        seen["journey_after"] = journey(driver)
        for chart in ("hours", "funnel"):
            seen[f"{chart}_box"] = tuple(read(driver, BOX, f"#{chart}"))
        shot.write_bytes(driver.get_screenshot_as_png())
        seen["console"] = [e for e in driver.get_log("browser") if e["level"] != "INFO"]
    return seen


def journey(driver: WebDriver) -> list[str]:
    return [str(line) for line in read(driver, TEXTS, "#journey div")]
