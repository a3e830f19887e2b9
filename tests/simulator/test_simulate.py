"""`ivr simulate` and `ivr test`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.directory.csv_import import import_file
from simulator.script import CallerStep, ScriptError, parse_script

ROOT = Path(__file__).resolve().parents[2]
IVR = str(Path(sys.executable).with_name("ivr"))
CONTRACT_KEYS = {
    "flow",
    "flow_version",
    "idv_status",
    "customer_id",
    "route",
    "handoff",
    "prompts",
    "attempts",
    "ended_by",
}


@pytest.fixture
async def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "demo.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    return db


def simulate(db: Path, *extra: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    journal = () if "--journal" in extra else ("--journal", "none")
    return subprocess.run(
        [IVR, "simulate", "flows/idv.yaml", "--db", str(db), *journal, *extra],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "IVR_SECRET_KEY": "", "IVR_TOKEN_KEY": ""},
    )


def test_script_steps_parse_and_bad_steps_are_refused() -> None:
    assert parse_script("12345678#; timeout ;*;hangup") == [
        CallerStep("press", "12345678#"),
        CallerStep("timeout"),
        CallerStep("press", "*"),
        CallerStep("hangup"),
    ]
    with pytest.raises(ScriptError, match="step 2"):
        parse_script("1;press 2")


def test_json_result_follows_the_contract_exactly(demo_db: Path) -> None:
    done = simulate(demo_db, "--ani", "+447700900123", "--input", "01021980#", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == CONTRACT_KEYS
    assert result["flow"] == "idv"
    assert result["flow_version"] == "1"
    assert result["idv_status"] == "identified_and_verified"
    assert result["customer_id"] == "C1001"
    assert result["route"] == {
        "kind": "self_service",
        "target": "https://self-service.example.com/ivr",
    }
    assert result["prompts"] == ["welcome", "ask_date_of_birth", "verified_thanks"]
    assert result["attempts"] == {"date_of_birth": 1}
    assert result["ended_by"] == "route"
    assert result["handoff"]["idv_status"] == "identified_and_verified"


def test_simulated_calls_are_written_to_the_journal(demo_db: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/journal.db"
    done = simulate(demo_db, "--input", "*", "--journal", url)
    assert done.returncode == 0, done.stderr
    code = main(["report", "summary", "--journal", url, "--format", "json"])
    assert code == 0
    extract = subprocess.run(
        [IVR, "extract", "calls", "--journal", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = extract.stdout.strip().splitlines()
    assert len(rows) == 2  # header and the one simulated call
    assert "not_identified" in rows[1]


def test_script_running_out_means_the_caller_hangs_up(demo_db: Path) -> None:
    done = simulate(demo_db, "--input", "1234#", "--json")
    result = json.loads(done.stdout)
    assert result["route"] == {"kind": "hangup", "target": None}
    assert result["ended_by"] == "hangup"
    assert result["idv_status"] == "not_identified"
    assert result["attempts"] == {"account_number": 2}


def test_interactive_console_shows_prompts_and_reads_keys(demo_db: Path) -> None:
    done = simulate(demo_db, stdin="12345678#\nt\n01021980#\n")
    assert done.returncode == 0, done.stderr
    assert "IVR: Please key in your 8 digit account number" in done.stdout
    # the silence was an attempt, and is answered as silence (issue 13), star still offered
    assert "IVR: Sorry, I didn't hear anything. For security" in done.stdout
    assert "didn't match" not in done.stdout
    assert "Thank you, Alice Example, you're now verified." in done.stdout
    assert done.stdout.strip().endswith("ID&V status identified_and_verified")


def test_a_bad_script_is_a_usage_error(demo_db: Path) -> None:
    done = simulate(demo_db, "--input", "12x")
    assert done.returncode == 2
    assert "not keys" in done.stderr


def test_record_writes_what_the_caller_heard(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "call.wav"
    done = simulate(demo_db, "--input", "12345678#;timeout;*", "--record", str(out))
    assert done.returncode == 0, done.stderr
    with wave.open(str(out)) as recording:
        assert recording.getframerate() == 8000
        assert recording.getnchannels() == 1
        seconds = recording.getnframes() / 8000
    assert seconds > 5.0  # the 5 s silence of the timeout alone


def test_ivr_test_passes_the_idv_cases_with_full_coverage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["test", str(ROOT / "flows"), "--project", str(ROOT)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "16/16 step outcomes exercised" in out
    assert "NOT TESTED" not in out


def test_ivr_test_fails_on_a_wrong_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "bad.test.yaml"
    cases.write_text(
        """flow: idv
customers:
  - {customer_id: C1, name: A, phones: ["+447700900123"], account_number: "12345678",
     date_of_birth: "01021980"}
cases:
  - name: expects the wrong status
    given: {ani: "+447700900123"}
    steps: [{expect_prompt: ask_account_number}, {press: "01021980#"}]
    expect: {idv_status: not_identified}
""",
        encoding="utf-8",
    )
    code = main(["test", str(cases), "--project", str(ROOT)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL expects the wrong status" in out
    assert "expected prompt 'ask_account_number'" in out
    assert "idv_status: expected 'not_identified', got 'identified_and_verified'" in out
    assert "NOT TESTED" in out


def test_in_process_calls_stay_out_of_the_servers_journal(demo_db: Path, tmp_path: Path) -> None:
    """Issue 13: a console try recorded nothing unless asked (it counted as a call)."""
    server_journal = tmp_path / "server-journal.db"
    done = subprocess.run(
        [IVR, "simulate", "flows/idv.yaml", "--db", str(demo_db), "--input", "*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "IVR_JOURNAL_URL": f"sqlite:///{server_journal}"},
    )
    assert done.returncode == 0, done.stderr
    assert not server_journal.exists()
