"""The dashboard and the flow view in headless Chromium against a real server on loopback.

The live test plays calls over the signed JSON webhook and watches a call's journey grow in plain
language. The manager's test opens a journal of generated calls and answers, from the page alone,
the four questions issue 16 asks; the numbers are checked against `ivr report` over the same
journal, the pages are checked with axe-core (WCAG 2.1 AA) at a 1280 px and a 390 px wide
viewport. Selenium blocks, so the browser runs in a thread while the server keeps serving.

With IVR_DOCS_SCREENSHOTS=DIR the screenshots are also written there (docs/images is made so).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from ivr.journal.records import JournalRecord, RecordKind
from ivr.journal.store import open_store
from ivr.journal.synthetic import CallScript, build_call
from tests.web.browser import chromium
from tests.web.conftest import CARDS_LINE, DEMO_LINE, Caller, MakeClient
from tests.web.png import decode

KEY = "browser-test-reports-key"
AUTH = {"X-API-Key": KEY}
ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).with_name("node") / "node_modules" / "axe-core" / "axe.min.js"
TREND_BLUE = (0x24, 0x56, 0xB8)
WARNING_YELLOW = (0xFF, 0xF3, 0xCD)

# Read in one script each: the page redraws, so an element handle may go stale between calls.
TEXTS = "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);"
DATA = "return Array.from(document.querySelectorAll(arguments[0]), e => e.dataset[arguments[1]]);"
BOX = """
const b = document.querySelector(arguments[0]).getBoundingClientRect();
return [b.left, b.top, b.right, b.bottom].map(Math.round);"""
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
  .then(r => done(r.violations.map(v => [v.id, v.help, v.nodes.map(n => n.target.join(" "))])))
  .catch(e => done([["axe-error", String(e), []]]));"""


def texts(driver: WebDriver, selector: str) -> list[str]:
    return [str(t) for t in driver.execute_script(TEXTS, selector)]


def kpi(driver: WebDriver, name: str) -> str:
    found = texts(driver, f'.kpi[data-name="{name}"] .value')
    return found[0] if found else ""


def click(driver: WebDriver, selector: str) -> None:
    """Click the first element `selector` finds, retrying while the page redraws it."""
    for _ in range(40):
        try:
            driver.find_element(By.CSS_SELECTOR, selector).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.05)
    raise AssertionError(f"{selector} never held still long enough to click")


def accessibility(driver: WebDriver) -> list[Any]:
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    violations: list[Any] = driver.execute_async_script(RUN_AXE)
    return violations


def screenshot(driver: WebDriver, path: Path) -> bytes:
    png: bytes = driver.get_screenshot_as_png()
    path.write_bytes(png)
    docs = os.environ.get("IVR_DOCS_SCREENSHOTS")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(docs) / path.name)
    return png


def overflow(driver: WebDriver) -> int:
    """How far the page is wider than the window (0: no sideways scrolling)."""
    return int(
        driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


# -- live calls -------------------------------------------------------------------------------


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


async def stored(client: TestClient[Any, Any], calls: int) -> None:
    """Wait until the writer has stored `calls` calls (it batches every 0.2 s)."""
    async with asyncio.timeout(10):
        while True:
            response = await client.get("/reports/summary?from=today&to=today", headers=AUTH)
            rows = (await response.json())["rows"]
            if {r["metric"]: r["value"] for r in rows}["calls"] == calls:
                return
            await asyncio.sleep(0.1)


async def test_live_calls_and_a_journey_told_in_words(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SE_OFFLINE", "true")
    client = await make_client(journal_url=f"sqlite:///{tmp_path}/journal.db", reports_key=KEY)
    live = await play_calls(client)
    await stored(client, 4)
    loop = asyncio.get_running_loop()

    def press_wrong_date() -> None:
        asyncio.run_coroutine_threadsafe(live.press("11111111#"), loop).result(10)

    url = f"http://manager:{KEY}@{client.host}:{client.port}/dashboard"
    seen = await asyncio.to_thread(watch_live, url, tmp_path, live.call_id, press_wrong_date)
    await client.close()

    assert seen["calls"] == "4"
    assert seen["callbacks"][:4] == ["due now", "0", "scheduled later", "0"]
    assert seen["verified"] == "1"
    funnel = dict(seen["funnel"])
    assert funnel["calls"] == "4"
    assert funnel["identified and verified"] == "1"
    before, after = seen["story_before"], seen["story_after"]
    assert before[0].startswith("Call started on the cards line from a withheld number")
    assert any("the caller heard “Please key in your 8 digit account number" in t for t in before)
    assert "Keyed 8 digits." in before
    assert len(after) > len(before)  # the story grew as the call went on (live, via the stream)
    assert any("checked the security answer: the answer did not match" in t for t in after)
    assert seen["stream"] == "live"
    assert seen["console"] == []
    image = decode(seen["png"])
    assert image.count(TREND_BLUE, seen["trend_box"]) > 500


def watch_live(url: str, tmp: Path, call_id: str, act: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    with chromium(tmp / "profile") as driver:
        driver.get(url)
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: kpi(d, "calls") == "4")
        wait.until(lambda d: texts(d, "#active tr.call"))
        wait.until(lambda d: texts(d, "#k-stream") == ["live"])
        wait.until(lambda d: len(texts(d, "#callbacks td")) == 16)
        seen["callbacks"] = texts(driver, "#callbacks td")
        seen["calls"], seen["verified"] = kpi(driver, "calls"), kpi(driver, "verified")
        names = driver.execute_script(DATA, "#funnel tr", "metric")
        values = texts(driver, "#funnel tr td:nth-child(2)")
        seen["funnel"] = list(zip(names, values, strict=True))
        click(driver, f'#active button[aria-label="show the journey of call {call_id}"]')
        wait.until(lambda d: len(texts(d, "#story li .text")) > 3)
        seen["story_before"] = texts(driver, "#story li .text")
        act()
        before = len(seen["story_before"])
        wait.until(lambda d: len(texts(d, "#story li .text")) > before)
        time.sleep(0.5)  # the story is told again once the turn's records have all arrived
        seen["story_after"] = texts(driver, "#story li .text")
        seen["stream"] = texts(driver, "#k-stream")[0]
        seen["trend_box"] = tuple(driver.execute_script(BOX, "#trend"))
        seen["png"] = screenshot(driver, tmp / "dashboard-live.png")
        seen["console"] = [e for e in driver.get_log("browser") if e["level"] != "INFO"]
    return seen


# -- the manager's questions over a journal of generated calls ----------------------------------


def midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def generated_calls() -> list[CallScript]:
    """Yesterday on the cards line: 5 verified (self-service), 3 identified only and 2 not
    identified (to an agent), 2 who hung up at the date of birth; 4 verified on retail."""
    t = midnight(1).timestamp() + 9 * 3600
    calls = [
        CallScript(
            f"cards-v{i}", t + i * 60, service_line="cards", ani_found=True, verify=["verified"]
        )
        for i in range(5)
    ]
    calls += [
        CallScript(f"cards-io-{i}", t + 600 + i * 60, service_line="cards", ani_found=True,
                   verify=["wrong", "dont_have"], customer_id=f"C2{i}")
        for i in range(3)
    ]  # fmt: skip
    calls += [
        CallScript(f"cards-ni-{i}", t + 900 + i * 60, service_line="cards", ani_presented=False,
                   account=["not_found", "no_input", "not_found"])
        for i in range(2)
    ]  # fmt: skip
    calls += [
        CallScript(f"cards-hu-{i}", t + 1200 + i * 60, service_line="cards", ani_found=True,
                   verify=["wrong"], hangup=True)
        for i in range(2)
    ]  # fmt: skip
    calls += [
        CallScript(f"retail-{i}", t + 1500 + i * 60, service_line="retail", ani_found=True,
                   verify=["verified"])
        for i in range(4)
    ]  # fmt: skip
    return calls


def directory_faults(now: float) -> list[list[JournalRecord]]:
    """Six calls in the last hour whose account lookup timed out: the directory is failing."""
    calls = []
    for i in range(6):

        def rec(seq: int, kind: RecordKind, i: int = i, **kw: Any) -> JournalRecord:
            at = now - 900 + i * 30 + seq
            return JournalRecord(f"fault-{i}", seq, at, kind, "idv", "1", "retail", **kw)

        calls.append(
            [
                rec(0, RecordKind.CALL_STARTED, data={"service_line": "retail"}),
                rec(1, RecordKind.STEP_ENTERED, step="account_number", attempt=1),
                rec(
                    2,
                    RecordKind.OPERATION,
                    step="account_number",
                    outcome="timeout",
                    data={"operation": "directory.lookup_by_account"},
                ),
            ]
        )
    return calls


def ivr_report(journal: str, name: str, day: str, line: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli.main", "report", name, "--journal", journal,
         "--from", day, "--to", day, "--service-line", line, "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(done.stdout)
    return report


async def test_a_manager_answers_four_questions_from_the_pages(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SE_OFFLINE", "true")
    journal = f"sqlite:///{tmp_path}/journal.db"
    store = await open_store(journal)
    for script in generated_calls():
        await store.append(build_call(script))
    for records in directory_faults(time.time()):
        await store.append(records)
    await store.close()
    yesterday = midnight(1).date().isoformat()
    summary = ivr_report(journal, "summary", yesterday, "cards")
    steps = ivr_report(journal, "steps", yesterday, "cards")

    client = await make_client(journal_url=journal, reports_key=KEY)
    base = f"http://manager:{KEY}@{client.host}:{client.port}"
    seen = await asyncio.to_thread(ask_the_pages, base, tmp_path, yesterday)
    ended_at_dob = await (
        await client.get(
            f"/dashboard/calls?from={yesterday}&to={yesterday}&flow=idv&step=date_of_birth"
            "&service_line=cards",
            headers=AUTH,
        )
    ).json()
    await client.close()

    # "How many callers were verified yesterday on the cards line, and how many of the rest
    # went to an agent?" -- the page after clicking "yesterday" and choosing the cards line
    by_metric = {r["metric"]: r["value"] for r in summary["rows"]}
    assert seen["verified"] == "5" == str(int(by_metric["identified and verified"]))
    assert seen["unverified_to_agent"] == "5" == str(int(by_metric["routed to an agent"]))
    assert seen["calls"] == "12" == str(int(by_metric["calls"]))
    # "Which step loses the most callers?"
    assert seen["losses"][0] == "date_of_birth"
    # "What happened on call X?"
    story = seen["story"]
    assert story[0].startswith("Call started on the cards line from a number ending 0123")
    assert "Pressed the “don't have it” key." in story
    assert "ID&V status: identified but not verified as customer C21." in story
    # "Is verification failing right now?"
    assert seen["fault_causes"] == ["directory"]
    assert seen["fault_text"][0].startswith("Warning: customer directory failing")
    # The flow view shows the journal's counts; a step lists the calls that ended there
    entries = {r["step"]: r["entries"] for r in steps["rows"]}
    for step, label in seen["flow_steps"].items():
        assert label.startswith(f"step {step}: reached by {entries.get(step, 0)} calls")
    assert sorted(seen["ended_at_dob"]) == sorted(c["call_id"] for c in ended_at_dob["calls"])
    assert {"cards-hu-0", "cards-hu-1"} <= set(seen["ended_at_dob"])
    # Accessible, and usable on a phone
    for page, violations in seen["axe"].items():
        assert violations == [], f"{page}: {violations}"
    for width, extra in seen["overflow"].items():
        assert extra <= 0, f"{width} px wide: page scrolls sideways by {extra} px"
    image = decode(seen["png_1280"])
    assert image.count(WARNING_YELLOW, seen["warning_box"]) > 2000
    assert seen["console"] == []


def ask_the_pages(base: str, tmp: Path, yesterday: str) -> dict[str, Any]:
    seen: dict[str, Any] = {"axe": {}, "overflow": {}}
    with chromium(tmp / "profile", width=1280, height=1000) as driver:
        wait = WebDriverWait(driver, 20)
        driver.get(f"{base}/dashboard")
        wait.until(lambda d: kpi(d, "calls") not in ("", "-"))
        wait.until(lambda d: "cards" in texts(d, "#f-line option"))
        click(driver, 'button[data-days="1"]')
        Select(driver.find_element(By.ID, "f-line")).select_by_value("cards")
        click(driver, "#apply")
        wait.until(lambda d: texts(d, "#period")[0].startswith(f"{yesterday} to {yesterday}"))
        wait.until(lambda d: kpi(d, "calls") == "12")
        for name in ("calls", "verified", "unverified_to_agent"):
            seen[name] = kpi(driver, name)
        wait.until(lambda d: driver.execute_script(DATA, "#losses tr", "step"))
        seen["losses"] = driver.execute_script(DATA, "#losses tr", "step")
        wait.until(lambda d: texts(d, "#fault-warning p"))
        seen["fault_causes"] = driver.execute_script(DATA, "#fault-warning p", "cause")
        seen["fault_text"] = texts(driver, "#fault-warning p")
        driver.execute_script("window.scrollTo(0, 0)")
        seen["warning_box"] = tuple(driver.execute_script(BOX, "#fault-warning"))
        seen["png_1280"] = screenshot(driver, tmp / "dashboard-1280.png")
        search = driver.find_element(By.ID, "q")
        search.send_keys("cards-io-1")
        click(driver, "#search button[type=submit]")
        wait.until(lambda d: d.execute_script(DATA, "#calls tr", "callId") == ["cards-io-1"])
        click(driver, '#calls button[aria-label="show the journey of call cards-io-1"]')
        wait.until(lambda d: len(texts(d, "#story li .text")) > 5)
        seen["story"] = texts(driver, "#story li .text")
        seen["axe"]["dashboard"] = accessibility(driver)
        screenshot(driver, tmp / "dashboard-journey-1280.png")
        seen["overflow"][1280] = overflow(driver)
        driver.set_window_size(390, 900)
        time.sleep(0.3)
        seen["overflow"][390] = overflow(driver)
        screenshot(driver, tmp / "dashboard-390.png")
        seen["axe"]["dashboard at 390 px"] = accessibility(driver)
        driver.set_window_size(1280, 1000)

        driver.get(f"{base}/flows/idv?from={yesterday}&to={yesterday}&service_line=cards")
        wait.until(lambda d: d.execute_script(DATA, "#diagram g.step", "step"))
        labels = driver.execute_script(
            "return Array.from(document.querySelectorAll('#diagram g.step'),"
            " g => [g.dataset.step, g.getAttribute('aria-label')]);"
        )
        seen["flow_steps"] = dict(labels)
        click(driver, '#diagram g.step[data-step="date_of_birth"]')
        wait.until(lambda d: d.execute_script(DATA, "#ended tr", "callId"))
        seen["ended_at_dob"] = driver.execute_script(DATA, "#ended tr", "callId")
        seen["axe"]["flow view"] = accessibility(driver)
        screenshot(driver, tmp / "flow-view-1280.png")
        seen["overflow"]["flow 1280"] = overflow(driver)
        seen["console"] = [e for e in driver.get_log("browser") if e["level"] != "INFO"]
    return seen
