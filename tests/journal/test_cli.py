"""`ivr report`, `ivr extract` and `ivr journal prune` end to end on a real SQLite file."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import time
from pathlib import Path
from typing import Any

import pytest

from ivr.cli import journal as journal_cli
from ivr.journal.store import open_store
from ivr.journal.synthetic import CallScript, build_call
from tests.journal.known_calls import known_records


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ivr")
    journal_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


def load(url: str, records: list[Any]) -> None:
    async def go() -> None:
        store = await open_store(url)
        await store.append(records)
        await store.close()

    asyncio.run(go())


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path}/j.db"
    load(u, known_records())
    return u


def test_report_table(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["report", "summary", "--journal", url]) == 0
    out = capsys.readouterr().out
    assert "identified and verified" in out
    assert "Summary (2024-06-01 .. 2024-06-02)" in out


def test_report_json_with_filters(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["report", "calls-per-day", "--journal", url, "--from", "2024-06-02", "--format", "json"]
    assert run(argv) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows == [
        {
            "day": "2024-06-02",
            "calls": 1,
            "verified": 1,
            "identified_only": 0,
            "not_identified": 0,
            "to_agent": 0,
            "self_service": 0,
            "hung_up": 1,
            "mean_duration_s": rows[0]["mean_duration_s"],
        }
    ]


def test_journal_url_from_environment(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_JOURNAL_URL", url)
    assert run(["report", "tasks", "--service-line", "cards", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("agent,agent_queue,1,")


def test_extract_to_file(url: str, tmp_path: Path) -> None:
    out = tmp_path / "calls.csv"
    assert run(["extract", "calls", "--journal", url, "--output", str(out)]) == 0
    with out.open() as f:
        assert [r["call_id"] for r in csv.DictReader(f)] == ["A", "B", "C", "D", "E", "F"]


def test_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    u = f"sqlite:///{tmp_path}/p.db"
    now = time.time()
    load(u, build_call(CallScript("old", now - 100 * 86400, ani_found=True, verify=["verified"])))
    load(u, build_call(CallScript("new", now - 3600, ani_found=True, verify=["verified"])))
    assert run(["journal", "prune", "--older-than", "90d", "--journal", u]) == 0
    assert "1 calls" in capsys.readouterr().out
    assert run(["report", "summary", "--journal", u, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows[0] == {"metric": "calls", "value": 1, "rate": None}


def test_bad_arguments(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["report", "summary", "--from", "yesterdayish"])
    with pytest.raises(SystemExit):
        run(["journal", "prune", "--older-than", "ninety"])
    assert run(["report", "summary", "--journal", "mysql://x"]) == 1
    assert "journal URL" in capsys.readouterr().err
