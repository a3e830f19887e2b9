"""Engines over the repository's flows with a payment runner the tests control (the day, the
processor, the keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path

import pytest

from ivr.bootstrap import Loaded, Project, build_engine, load_project
from ivr.callbacks.crypto import SecretBox, new_key_text
from ivr.directory.csv_import import import_file
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.payment_step import PaymentRunner, PaymentSettings
from ivr.engine.runtime import Engine, EngineSettings
from ivr.payments.processor import PaymentProcessor
from ivr.payments.test_processor import TestProcessor
from ivr.payments.vault import PaymentVault
from ivr.settings import PAYMENT_KEYS_ENV

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 3)
EngineFactory = Callable[..., Engine]


@pytest.fixture(scope="session")
def loaded() -> Loaded:
    return load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))


@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[SqliteDirectory]:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    opened = await SqliteDirectory.open(db)
    yield opened
    await opened.close()


def runner(processor: PaymentProcessor | None = None, deadline_s: float = 1.0) -> PaymentRunner:
    chosen = processor or TestProcessor()
    return PaymentRunner(
        PaymentSettings(
            vault=PaymentVault(SecretBox.from_text(new_key_text("t1"), PAYMENT_KEYS_ENV)),
            processor=chosen,
            deadline_s=deadline_s,
            today=lambda: TODAY,
        )
    )


@pytest.fixture
async def make_engine(loaded: Loaded, directory: SqliteDirectory) -> EngineFactory:
    built, _ = await build_engine(loaded, directory, EngineSettings(operation_deadline_s=1.0))

    def make(processor: PaymentProcessor | None = None, deadline_s: float = 1.0) -> Engine:
        built.payments = runner(processor, deadline_s)
        return built

    return make
