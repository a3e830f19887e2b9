"""ivr.retry.Backoff: exponential, capped, jittered; the retrying loops use it."""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.retry import Backoff

ROOT = Path(__file__).resolve().parents[1]


def test_grows_exponentially_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(first_s=0.1, cap_s=1.0, jitter=0)
    assert [backoff.delay(n) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert backoff.delay(0) == 0.0
    assert backoff.delay(10_000) == 1.0  # no overflow after a long outage


def test_jitter_takes_off_at_most_its_share() -> None:
    low = Backoff(first_s=1.0, cap_s=1.0, jitter=0.5, random=lambda: 0.999999)
    high = Backoff(first_s=1.0, cap_s=1.0, jitter=0.5, random=lambda: 0.0)
    assert low.delay(1) == pytest.approx(0.5, abs=1e-5)
    assert high.delay(1) == 1.0


@given(
    first=st.floats(0.001, 1.0),
    cap_factor=st.floats(1.0, 100.0),
    factor=st.floats(1.0, 4.0),
    jitter=st.floats(0.0, 1.0),
    failures=st.integers(1, 60),
)
def test_every_delay_is_within_its_bounds(
    first: float, cap_factor: float, factor: float, jitter: float, failures: int
) -> None:
    backoff = Backoff(first_s=first, cap_s=first * cap_factor, factor=factor, jitter=jitter)
    full = min(backoff.cap_s, first * factor ** (failures - 1))
    assert full * (1 - jitter) - 1e-12 <= backoff.delay(failures) <= full + 1e-12


def test_workers_do_not_come_back_in_step() -> None:
    backoff = Backoff(first_s=1.0, cap_s=1.0)
    assert len({backoff.delay(3) for _ in range(50)}) > 40


@pytest.mark.parametrize(("first", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_bad_bounds_are_refused(first: float, cap: float) -> None:
    with pytest.raises(ValueError, match="first_s"):
        Backoff(first_s=first, cap_s=cap)


async def test_wait_sleeps_the_delay() -> None:
    backoff = Backoff(first_s=0.05, cap_s=0.05, jitter=0)
    started = time.monotonic()
    await backoff.wait(1)
    assert time.monotonic() - started >= 0.05
    await asyncio.wait_for(backoff.wait(0), 1.0)  # no failure yet: no wait


# Loops that retry outside ivr/adapters and the call pipeline (those are arch-core's); each
# must wait through a Backoff, not a sleep of its own arithmetic.
LOOPS = [
    "ivr/journal/process_writer.py",
    "ivr/journal/worker.py",
    "ivr/journal/writer.py",
    "ivr/journal/live_bus.py",
    "ivr/sessions/redis_store.py",
]


@pytest.mark.parametrize("module", LOOPS)
def test_retrying_loops_wait_through_backoff(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    from_backoff = {  # `delay = SOME_BACKOFF.delay(n)`, logged before the sleep
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr == "delay"
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    computed_sleeps = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "sleep"
        and node.args
        and not isinstance(node.args[0], ast.Constant)
        and not (isinstance(node.args[0], ast.Name) and node.args[0].id in from_backoff)
    ]
    assert computed_sleeps == [], f"{module}: sleeps of its own arithmetic at {computed_sleeps}"
    assert "Backoff(" in (ROOT / module).read_text(encoding="utf-8")
