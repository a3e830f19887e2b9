"""`ivr validate`, `ivr schema`, `ivr diagram`, run in-process (and validate once as a process)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.flow.json_schema import flow_json_schema, flow_json_schema_text
from tests.flow.helpers import BASE, ROOT, edit


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the commands default to config/ and prompts/


def test_validate_demo_flow(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "flows/idv.yaml"]) == 0
    assert capsys.readouterr().out == "flows/idv.yaml: ok (4 steps)\n"


def test_validate_reports_each_problem_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit("    play: welcome", "    play: welcom"))
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{bad}:5:11: error unknown-prompt: prompt 'welcom' is not in the en-GB catalogue "
        "(hint: did you mean 'welcome'? Or add 'welcom:' with its text under prompts: in "
        "prompts/en-GB/catalog.yaml)",
        f"{bad}: 1 error",
    ]


def test_validate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit("      found: verify", "      found: dobb"))
    assert main(["validate", "--json", str(bad), "flows/idv.yaml"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["files"][1] == {
        "path": "flows/idv.yaml",
        "ok": True,
        "steps": 4,
        "errors": 0,
        "warnings": 0,
    }
    [problem] = report["problems"]
    assert (problem["code"], problem["line"], problem["column"]) == ("unknown-step", 15, 14)


def test_strict_fails_on_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    flow = tmp_path / "digit.yaml"  # a digit dont_have_key is a warning (issue 13)
    flow.write_text(edit('dont_have_key: "*"', 'dont_have_key: "0"'))
    assert main(["validate", str(flow)]) == 0
    assert "warning dont-have-digit" in capsys.readouterr().out
    assert main(["validate", "--strict", str(flow)]) == 1


def test_validate_with_explicit_dirs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flow = tmp_path / "demo.yaml"
    flow.write_text(BASE)
    assert main(["validate", str(flow), "--config", "config", "--prompts", "prompts"]) == 0
    assert main(["validate", str(flow), "--prompts", str(tmp_path / "none")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_schema_to_stdout_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["$schema"].endswith("2020-12/schema")
    target = tmp_path / "s.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert target.read_text() == flow_json_schema_text()


def test_committed_schema_is_current() -> None:
    committed = (ROOT / "schemas" / "flow.schema.json").read_text(encoding="utf-8")
    assert committed == flow_json_schema_text(), "run: ivr schema --output schemas/flow.schema.json"


def test_schema_takes_durations_as_text_and_play_as_one_or_many() -> None:
    schema = flow_json_schema()
    timeout = schema["$defs"]["InputSettings"]["properties"]["timeout"]
    assert timeout["anyOf"][0]["type"] == "string"
    play = schema["$defs"]["PlayStep"]["properties"]["play"]
    assert [option["type"] for option in play["anyOf"]] == ["string", "array"]
    assert schema["$defs"]["AskSpec"]["properties"]["term_key"]["description"]


def test_diagram(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "flows/idv.yaml"]) == 0
    assert capsys.readouterr().out.startswith("flowchart TD\n")
    target = tmp_path / "d.mmd"
    assert main(["diagram", "flows/idv.yaml", "--output", str(target)]) == 0
    assert 's_date_of_birth -->|"verified"| result_identified_and_verified' in target.read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    assert main(["diagram", str(broken)]) == 1


def test_validate_as_a_process() -> None:
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ivr"), "validate", "flows/idv.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "flows/idv.yaml: ok (4 steps)\n"


@pytest.mark.parametrize("name", ["idv.yaml"])
def test_schema_accepts_the_demo_flow_and_refuses_traps(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from ivr.flow.yaml_loader import load_yaml

    validator = jsonschema.Draft202012Validator(flow_json_schema())
    data = load_yaml((ROOT / "flows" / name).read_text(encoding="utf-8"), name).data
    assert list(validator.iter_errors(data)) == []
    assert list(validator.iter_errors(load_yaml(BASE, "base").data)) == []
    for old, new in [
        ('dont_have_key: "*"', "dont_have_key: 7"),
        ("    next: identify", "    nxt: x"),
    ]:
        broken = load_yaml(edit(old, new), "broken").data
        assert list(validator.iter_errors(broken)), new
