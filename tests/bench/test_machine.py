"""bench/machine.py: the machine line every benchmark prints, and the database servers moved to
the load's core for a run and put back afterwards (on a real process, by its command name)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.machine import cpu_model, describe, service_pids, services_on
from bench.webhooks import BARE, MEMORY, PG_JOURNAL, SQLITE_JOURNAL, Setup, _chosen

NAME = "ivrbenchsvc"  # the command name (comm) of the stand-in service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[int]:
    """A running process named NAME (a copy of `sleep`), free to run on every core."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    binary = tmp_path / NAME
    shutil.copy(sleep, binary)
    process = subprocess.Popen([str(binary), "60"])
    try:
        for _ in range(100):
            if service_pids((NAME,)) == [process.pid]:
                break
            time.sleep(0.01)
        yield process.pid
    finally:
        process.kill()
        process.wait()


def test_the_machine_line_names_cpu_cores_and_python() -> None:
    line = describe()
    assert cpu_model() in line
    assert f"{len(os.sched_getaffinity(0))} cores usable" in line
    assert "CPython" in line or "PyPy" in line
    model = Path("/proc/cpuinfo").read_text().split("model name")[1].split("\n")[0]
    assert model.split(":", 1)[1].strip() in cpu_model()


def test_services_are_moved_for_the_run_and_put_back(service: int) -> None:
    everywhere = os.sched_getaffinity(service)
    core = max(os.sched_getaffinity(0))
    with services_on(core, (NAME,)) as moved:
        assert moved == [service]
        assert os.sched_getaffinity(service) == {core}
    assert os.sched_getaffinity(service) == everywhere


def test_no_such_core_moves_nothing(service: int) -> None:
    with services_on(os.cpu_count() or 1, (NAME,)) as moved:
        assert moved == []
    assert service_pids((NAME,)) == [service]


def test_only_picks_setups_and_always_keeps_in_memory_state() -> None:
    setups = [Setup(label, [], "/") for label in (MEMORY, BARE, SQLITE_JOURNAL, PG_JOURNAL)]
    assert [s.label for s in _chosen(setups, "pg-journal")] == [MEMORY, PG_JOURNAL]
    assert _chosen(setups, None) == setups
    with pytest.raises(SystemExit, match="unknown"):
        _chosen(setups, "bogus")
