"""Engines over the repository's real flows, config and prompts, with a real SQLite directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.bootstrap import Loaded, Project, build_engine, load_project
from ivr.directory.csv_import import import_file
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.runtime import Engine, EngineSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def project() -> Project:
    return Project(ROOT / "flows", ROOT / "config", ROOT / "prompts")


@pytest.fixture(scope="session")
def loaded(project: Project) -> Loaded:
    return load_project(project)


@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[SqliteDirectory]:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    opened = await SqliteDirectory.open(db)
    yield opened
    await opened.close()


@pytest.fixture
async def engine(loaded: Loaded, directory: SqliteDirectory) -> Engine:
    built, _ = await build_engine(loaded, directory, EngineSettings(operation_deadline_s=0.5))
    return built
