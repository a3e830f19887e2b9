"""What every benchmark prints about the machine, and where the local database servers run.

Figures only mean something with the machine named: the same code measured 285 µs and 67 µs of
CPU per bare aiohttp request on two hosts of the same virtual-machine kind. So each benchmark
prints the CPU model, its clock, the cores it may use and the Python it runs on.

`services_on(core)` moves the local PostgreSQL and Redis servers (their processes and threads,
and so the PostgreSQL backends they fork later) onto one core for the length of a benchmark and
puts them back afterwards. On two cores with the server under test pinned to core 0, a database
the scheduler lets onto core 0 takes that core's time and caches from the server, and the figure
then measures the neighbour: the PostgreSQL journal measured 15 % and, with the database moved to
the load's core, 6 % (same code, same session).
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path

SERVICE_NAMES = ("postgres", "redis-server")


def cpu_model() -> str:
    """The CPU's model name and current clock as /proc/cpuinfo tells (Linux), else platform's."""
    model, mhz = "", ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not model:
                model = value.strip()
            elif key == "cpu MHz" and not mhz:
                mhz = f"{float(value):.0f} MHz"
    return ", ".join(part for part in (model or platform.processor(), mhz) if part)


def describe() -> str:
    """One line: CPU, cores usable, Python, the load average."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores usable, "
        f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"load {load}"
    )


def service_pids(names: tuple[str, ...] = SERVICE_NAMES) -> list[int]:
    """Threads of running processes whose command name is one of `names` (from /proc)."""
    pids = []
    for task in Path("/proc").glob("[0-9]*/task/[0-9]*"):
        with contextlib.suppress(OSError):
            if (task / "comm").read_text().strip() in names:
                pids.append(int(task.name))
    return pids


@contextlib.contextmanager
def services_on(core: int, names: tuple[str, ...] = SERVICE_NAMES) -> Iterator[list[int]]:
    """Pin the local database servers to `core` while the block runs; yield the threads moved.

    Best effort: a thread we may not move (another user's, without the right) is left where it
    is and not listed. The previous affinity of each moved thread is restored on exit.
    """
    moved: dict[int, set[int]] = {}
    if 0 <= core < (os.cpu_count() or 1):
        for pid in service_pids(names):
            with contextlib.suppress(OSError):
                before = os.sched_getaffinity(pid)
                os.sched_setaffinity(pid, {core})
                moved[pid] = before
    try:
        yield sorted(moved)
    finally:
        for pid, before in moved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, before)
