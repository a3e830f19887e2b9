"""ivr.settings: every IVR_* variable in one place, its defaults, masking and refusals."""

from __future__ import annotations

import ast
import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ivr import settings as settings_module
from ivr.cli.main import main
from ivr.directory.port import DirectoryError, VerifyStatus
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.settings import (
    DEFAULT_JOURNAL_URL,
    DEVELOPMENT_ANSWER_KEY,
    DEVELOPMENT_TOKEN_KEY,
    Settings,
    SettingsError,
    load_settings,
    mask_url,
)

ROOT = Path(__file__).resolve().parents[1]
SECRETS = (
    "IVR_SECRET_KEY",
    "IVR_TOKEN_KEY",
    "IVR_WEBHOOK_SECRET",
    "IVR_TWILIO_AUTH_TOKEN",
    "IVR_JAMBONZ_SECRET",
    "IVR_JAMBONZ_WS_PASSWORD",
    "IVR_REPORTS_KEY",
    "IVR_ADMIN_KEY",
    "IVR_DIRECTORY_TOKEN",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No IVR_* variable of the developer's shell leaks into these tests."""
    for name in list(settings_module.config_environment()):
        if name.startswith("IVR_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load_settings()
    assert settings == Settings.defaults()
    assert settings.journal_url == DEFAULT_JOURNAL_URL
    assert settings.journal_worker_cpus is None
    assert settings.webhook_secret is None
    assert settings.jambonz_secrets() == []
    assert settings.flows_dir == Path("flows")
    assert settings.answer_key() == DEVELOPMENT_ANSWER_KEY
    assert settings.token_signing_key() == DEVELOPMENT_TOKEN_KEY


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.setenv(name, f"value-of-{name}")
    monkeypatch.setenv("IVR_JAMBONZ_SECRET", " new , old ")
    monkeypatch.setenv("IVR_JOURNAL_URL", "postgresql://ivr:pw@db/ivr")
    monkeypatch.setenv("IVR_JOURNAL_WORKER_CPUS", "2-3,6")
    monkeypatch.setenv("IVR_FLOWS_DIR", "/srv/flows")
    settings = load_settings()
    assert settings.answer_key() == b"value-of-IVR_SECRET_KEY"
    assert settings.token_signing_key() == "value-of-IVR_TOKEN_KEY"
    assert settings.reveal(settings.webhook_secret) == "value-of-IVR_WEBHOOK_SECRET"
    assert settings.reveal(settings.directory_token) == "value-of-IVR_DIRECTORY_TOKEN"
    assert settings.jambonz_secrets() == ["new", "old"]
    assert settings.journal_url == "postgresql://ivr:pw@db/ivr"
    assert settings.journal_worker_cpus == "2-3,6"
    assert settings.flows_dir == Path("/srv/flows")
    described = {row[0] for row in settings.describe()}
    assert set(SECRETS) <= described  # --check-config lists every variable


def test_an_empty_variable_means_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_SECRET_KEY", "")
    monkeypatch.setenv("IVR_JOURNAL_URL", "")
    settings = load_settings()
    assert settings.secret_key is None
    assert settings.journal_url == DEFAULT_JOURNAL_URL


def test_development_keys_warn_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(settings_module, "_warned", set())
    settings = load_settings()
    with caplog.at_level(logging.WARNING):
        settings.answer_key()
        settings.answer_key()
        settings.token_signing_key()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("IVR_SECRET_KEY is not set" in m for m in messages) == 1
    assert sum("IVR_TOKEN_KEY is not set" in m for m in messages) == 1


def test_secrets_are_masked_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.setenv(name, "hunter2-secret")
    monkeypatch.setenv("IVR_JOURNAL_URL", "postgresql://ivr:hunter2-secret@db:5432/ivr")
    settings = load_settings()
    shown = repr(settings) + str(settings) + repr(settings.describe())
    assert "hunter2" not in shown
    assert "postgresql://ivr:********@db:5432/ivr" in repr(settings.describe())


def test_mask_url_keeps_urls_without_password() -> None:
    assert mask_url("sqlite:///var/journal.db") == "sqlite:///var/journal.db"
    assert mask_url("redis://:pw@127.0.0.1:6379/0") == "redis://:********@127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("IVR_JOURNAL_URL", "mysql://db/ivr", "IVR_JOURNAL_URL: must start with sqlite:///"),
        ("IVR_JOURNAL_WORKER_CPUS", "first", "IVR_JOURNAL_WORKER_CPUS: 'first' is not a list"),
        ("IVR_JAMBONZ_SECRET", " , ", "IVR_JAMBONZ_SECRET: holds no secret"),
    ],
)
def test_invalid_values_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert any(problem.startswith(message) for problem in raised.value.problems)


def _check_config(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in settings_module.config_environment().items()
        if not name.startswith("IVR_")
    }
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli.serve", "--check-config"],
        capture_output=True,
        text=True,
        env={**env, **extra},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_check_config_prints_effective_settings_masked() -> None:
    done = _check_config(
        {
            "IVR_WEBHOOK_SECRET": "hunter2-webhook",
            "IVR_JOURNAL_URL": "postgresql://ivr:hunter2@db/ivr",
            "IVR_QUEUE_GENERAL": "sales",
            "IVR_WEBHOK_SECRET": "typo",
        }
    )
    assert done.returncode == 0, done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["IVR_WEBHOOK_SECRET", "********"] for line in lines)
    assert any("IVR_SECRET_KEY" in line and "development key" in line for line in lines)
    assert any(
        line.split()[:2] == ["--journal", "postgresql://ivr:********@db/ivr"] for line in lines
    )
    assert any(line.split()[:2] == ["IVR_QUEUE_GENERAL", "sales"] for line in lines)
    assert any("IVR_MAIN_MENU" in line and "(default)" in line for line in lines)
    assert any("IVR_WEBHOK_SECRET is set but no setting" in line for line in lines)


def test_check_config_refuses_an_invalid_value() -> None:
    done = _check_config({"IVR_JOURNAL_WORKER_CPUS": "two"})
    assert done.returncode == 2
    assert "IVR_JOURNAL_WORKER_CPUS: 'two' is not a list of CPU numbers" in done.stderr


def test_serve_refuses_to_start_on_an_invalid_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IVR_JOURNAL_URL", "journal.db")
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", "0"])
    assert stopped.value.code == 2
    assert "ivr serve: IVR_JOURNAL_URL: must start with" in capsys.readouterr().err


async def _verify(db: Path, key: bytes) -> VerifyStatus:
    directory = await SqliteDirectory.open(db, answer_key=key)
    try:
        return await directory.verify_answer("C1001", "pin", "4321")
    finally:
        await directory.close()


def test_import_and_server_hash_with_the_same_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`ivr customers import` hashes with IVR_SECRET_KEY; a directory opened with the key
    the settings give verifies, one opened with another key does not."""
    monkeypatch.setenv("IVR_SECRET_KEY", "deployment-key")
    db = tmp_path / "directory.db"
    csv = ROOT / "config" / "demo-customers.csv"
    assert main(["customers", "import", str(csv), "--db", str(db)]) == 0
    assert asyncio.run(_verify(db, load_settings().answer_key())) is VerifyStatus.VERIFIED
    # under a key that did not make the answer, verifying is the directory's error, never a
    # wrong answer counted against the caller (issue 13)
    with pytest.raises(DirectoryError, match="not configured"):
        asyncio.run(_verify(db, DEVELOPMENT_ANSWER_KEY))


ENVIRONMENT_READERS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _environment_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_READERS:
            found.append(f"{path}:{node.lineno}: .{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            names = {alias.name for alias in node.names} & ENVIRONMENT_READERS
            found += [f"{path}:{node.lineno}: from os import {name}" for name in sorted(names)]
    return found


def test_only_the_settings_module_reads_the_environment() -> None:
    allowed = ROOT / "ivr" / "settings.py"
    readers = [
        read
        for package in ("ivr", "simulator")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != allowed
        for read in _environment_reads(path)
    ]
    assert readers == []
    assert _environment_reads(allowed)  # the check does see a reader


def test_the_check_sees_a_reader(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom os import getenv\nX = os.environ.get('IVR_X')\n")
    assert len(_environment_reads(source)) == 2


def test_jambonz_ws_credentials_need_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_JAMBONZ_WS_USERNAME", "jambonz-app")
    assert load_settings().jambonz_ws_credentials() is None  # no password: not served
    monkeypatch.setenv("IVR_JAMBONZ_WS_PASSWORD", "s3cret-ws")
    settings = load_settings()
    assert settings.jambonz_ws_credentials() == ("jambonz-app", "s3cret-ws")
    assert "s3cret-ws" not in repr(settings.describe())
