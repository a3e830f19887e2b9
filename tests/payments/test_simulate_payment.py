"""`ivr simulate flows/payments.yaml`: the masked card and the processor's reference on screen,
and a recording with silence where the card's keys were."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ivr.directory.csv_import import import_file
from tests.payments.conftest import ROOT
from tests.prompts.test_call_recording import detect_keys, read_samples

IVR = str(ROOT / ".venv" / "bin" / "ivr")
PAN = "4111111111111111"


@pytest.fixture
async def demo_db(tmp_path: Path) -> Path:
    db = tmp_path / "demo.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    return db


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IVR, "simulate", "flows/payments.yaml", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_documented_command_shows_the_masked_card_and_reference(demo_db: Path) -> None:
    done = simulate("--db", str(demo_db), "--input", f"{PAN}#;1229#;123#")
    assert done.returncode == 0, done.stderr
    assert "'card_masked': '************1111'" in done.stdout
    assert "'payment_reference': 'TP-" in done.stdout
    assert "card ending 1111 has been approved" in done.stdout
    assert PAN not in done.stdout + done.stderr


def test_json_result_hands_over_the_payment(demo_db: Path) -> None:
    done = simulate("--db", str(demo_db), "--json", "--input", "4000000000000002#;1229#;123#")
    handoff = json.loads(done.stdout)["handoff"]
    assert (handoff["payment_outcome"], handoff["card_last4"]) == ("declined", "0002")


def test_the_recording_has_no_tones_for_card_digits(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "call.wav"
    done = simulate("--db", str(demo_db), "--input", f"{PAN}#;1229#;123#", "--record", str(out))
    assert done.returncode == 0, done.stderr
    assert detect_keys(read_samples(out)) == ""  # the only keys pressed were card digits
    idv = subprocess.run(
        [IVR, "simulate", "flows/idv.yaml", "--db", str(demo_db), "--journal", "none"]
        + ["--input", "12345678#;*", "--record", str(tmp_path / "idv.wav")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert idv.returncode == 0, idv.stderr
    assert "12345678" in detect_keys(read_samples(tmp_path / "idv.wav"))  # tones are decodable
