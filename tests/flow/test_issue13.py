"""Issue 13: mistakes caught before a call reaches them (each test fails on the main of
2026-12-03): directory fields, digits against the field, position prompts, a digit
dont_have_key, hints for indentation, namespaces and missing prompts, a clean broken pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from ivr.cli.main import main
from ivr.flow.problems import Problem
from tests.flow.helpers import ROOT, problems_of

IDV = (ROOT / "flows" / "idv.yaml").read_text()
CARDS = (ROOT / "flows" / "cards.yaml").read_text()


def _problem(text: str, code: str) -> Problem:
    found = [p for p in problems_of(text) if p.code == code]
    assert found, f"no {code} in {problems_of(text)}"
    return found[0]


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_field_the_directory_does_not_hold_is_an_error_with_a_suggestion() -> None:
    text = IDV.replace("with: {field: date_of_birth}", "with: {field: date_of_brith}")
    problem = _problem(text, "unknown-field")
    assert problem.is_error
    assert problem.message == "the directory has no field 'date_of_brith'"
    assert problem.hint == "did you mean 'date_of_birth'?"
    assert (problem.line, problem.column) == (_line_of(text, "date_of_brith"), 19)


def test_the_asks_digits_must_fit_the_fields_answers() -> None:
    text = IDV.replace(
        '      digits: {min: 8, max: 8}\n      dont_have_key: "*"\n      secret',
        '      digits: {min: 6, max: 6}\n      dont_have_key: "*"\n      secret',
    )
    problem = _problem(text, "digits-mismatch")
    assert "'date_of_birth' answers have 8 digits, but this step takes 6 digits" in problem.message
    assert problem.hint == "write digits: {min: 8, max: 8}"
    partial = CARDS.replace("digits: {min: 2, max: 2}", "digits: {min: 8, max: 8}")
    problem = _problem(partial, "digits-mismatch")
    assert "asked 2 of its 8 digits at a time" in problem.message


def test_a_partial_fields_prompts_must_read_the_positions() -> None:
    text = CARDS.replace("prompt: ask_security_digits ", "prompt: ask_account_number ")
    problem = _problem(text, "prompt-positions")
    assert "does not say which digits of 'security_number'" in problem.message
    assert "{positions}" in (problem.hint or "")
    full = IDV.replace("prompt: ask_date_of_birth\n", "prompt: ask_security_digits\n")
    assert "reads positions" in _problem(full, "prompt-positions").message


def test_a_digit_dont_have_key_is_a_warning() -> None:
    text = IDV.replace('dont_have_key: "*"', 'dont_have_key: "0"', 1)
    problem = _problem(text, "dont-have-digit")
    assert problem.severity == "warning"
    assert problem.hint == "use a key no answer contains, such as '*'"


def test_an_indentation_error_gets_a_hint() -> None:
    text = IDV.replace("    uses: directory.lookup_by_ani", "      uses: directory.lookup_by_ani")
    problem = _problem(text, "yaml-syntax")
    assert problem.hint is not None
    assert problem.hint.startswith("check the indentation")
    text = IDV.replace("    skip_if: not settings", "  skip_if: not settings")
    assert (_problem(text, "yaml-syntax").hint or "").startswith("check the indentation")


def test_a_misspelt_namespace_gets_did_you_mean() -> None:
    text = IDV.replace("not settings.identify_by_ani", "not setings.identify_by_ani")
    problem = _problem(text, "bad-condition")
    assert problem.message.startswith("unknown namespace 'setings'")
    assert problem.hint == "did you mean 'settings'?"


def test_a_prompt_missing_from_the_catalogue_says_where_to_add_it() -> None:
    text = IDV.replace("play: welcome", "play: greeting_new")
    hint = _problem(text, "unknown-prompt").hint or ""
    assert "add 'greeting_new:' with its text under prompts: in" in hint
    assert hint.endswith("prompts/en-GB/catalog.yaml")


def test_validate_json_into_a_closed_pipe_ends_cleanly() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = f"{sys.executable} -m ivr.cli.main validate --json flows/idv.yaml flows/cards.yaml"
    many = " ".join(["flows/idv.yaml"] * 2000)  # far more output than a pipe holds
    done = subprocess.run(
        f"{command} {many} | head -c 10",
        shell=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout == '{\n  "ok": '
    assert "Traceback" not in done.stderr
    assert "BrokenPipeError" not in done.stderr


def test_every_retry_keeps_the_star_option_and_silence_is_never_a_mismatch() -> None:
    catalog = yaml.safe_load((ROOT / "prompts" / "en-GB" / "catalog.yaml").read_text())
    texts = {name: entry["text"] for name, entry in catalog["prompts"].items()}
    for source in (IDV, CARDS):
        flow = yaml.safe_load(source)
        for section in ("steps", "identify", "verify"):
            for step in flow.get(section, []):
                ask = step.get("ask")
                if not ask or ask.get("dont_have_key") != "*":
                    continue
                for event in ("no_input", "invalid", "wrong"):
                    assert ask.get(event), f"{step['step']} names no {event} prompt"
                    for prompt in ask[event]:
                        assert "press star" in texts[prompt], prompt
                for prompt in ask["no_input"]:
                    assert "didn't match" not in texts[prompt]


def test_the_build_uses_an_spdx_license_and_a_setuptools_that_reads_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"  # a table makes pip warn
    requires = project["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in requires), requires
    assert any(d.startswith("phonenumbers>=") for d in project["project"]["dependencies"])


def test_make_call_takes_the_ani_and_the_number_called() -> None:
    done = subprocess.run(
        ["make", "-n", "call", "ANI=+447700900456", "DNIS=+441134960002"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--ani '+447700900456' --dnis '+441134960002'" in done.stdout, done.stdout


def test_ivr_test_reports_a_flow_without_tests_and_warns_about_the_token_key_once(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "idv.yaml").write_text(IDV)
    (folder / "idv.test.yaml").write_text((ROOT / "flows" / "idv.test.yaml").read_text())
    (folder / "spare.yaml").write_text(IDV.replace("id: idv", "id: spare"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IVR_TOKEN_KEY": ""}
    done = subprocess.run(
        [sys.executable, "-m", "ivr.cli.main", "test", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"NO TESTS {folder / 'spare.yaml'}: add {folder / 'spare.test.yaml'}" in done.stdout
    assert done.stderr.count("IVR_TOKEN_KEY is not set") == 1


def test_the_worked_example_validates(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["validate", "--json", "flows/cards.yaml"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_validate_checks_fields_against_a_live_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from ivr.directory.csv_import import import_file
    from ivr.fields import BUILTIN_FIELDS

    monkeypatch.chdir(ROOT)
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,name,phones,account_number,date_of_birth\nC1,Ann,,1234,01021980\n")
    db = tmp_path / "d.db"
    only_dob = {"date_of_birth": BUILTIN_FIELDS["date_of_birth"]}
    asyncio.run(import_file(csv, db, fields=only_dob))
    assert main(["validate", "flows/cards.yaml", "--directory", str(db)]) == 1
    out = capsys.readouterr().out
    assert "error unknown-field: the directory has no field 'security_number'" in out
    assert main(["validate", "flows/idv.yaml", "--directory", str(db)]) == 0
    assert main(["validate", "flows/idv.yaml", "--directory", str(tmp_path / "none.db")]) == 2
    assert "no such directory file" in capsys.readouterr().err
