"""The limits around the real engine, flows and SQLite directory (issue 12, item 6): limited
callers are routed like a failure and journalled with the limit; a stranger cannot lock an
owner out; wrong answers from many numbers lock the customer briefly, escalating; answers
slow down before the hard limit. Every test runs with in-memory and with Redis counters."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ivr.bootstrap import Loaded, Project, build_engine, load_project
from ivr.directory.csv_import import import_file
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.actions import Transfer
from ivr.engine.events import CallStarted, DigitsCollected
from ivr.engine.runtime import Engine, EngineSettings
from ivr.engine.turn import Turn
from ivr.journal.records import JournalRecord, RecordKind
from ivr.limits.counters import Counters
from ivr.limits.guard import BACKSTOP, AbuseGuard
from ivr.limits.policy import Limits
from tests.limits.conftest import Clock

ROOT = Path(__file__).resolve().parents[2]
DEMO = "+441134960000"  # identify by ANI
CARDS = "+441134960001"  # account number first
ALICE = "+447700900123"  # C1001, account 12345678, date of birth 01021980
ALICE_ACCOUNT = "12345678#"
STRANGER = "+447700900555"
_ids = itertools.count()


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    return load_project(Project(ROOT / "flows", ROOT / "config", ROOT / "prompts"))


@pytest.fixture
async def engine(
    loaded: Loaded, counters: Counters, clock: Clock, tmp_path: Path
) -> AsyncIterator[Engine]:
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    directory = await SqliteDirectory.open(db, policy=BACKSTOP)  # as the server opens it
    built, _ = await build_engine(loaded, directory, guard=AbuseGuard(counters, b"test-key", clock))
    yield built
    await directory.close()


def with_limits(engine: Engine, **values: float) -> None:
    engine.config = engine.config.model_copy(update={"limits": Limits(**values)})


class Call:
    def __init__(self, engine: Engine, ani: str | None, dnis: str) -> None:
        self.engine = engine
        self.call_id = f"limits-{next(_ids)}"
        self.ani, self.dnis = ani, dnis
        self.records: list[JournalRecord] = []
        self.turn: Turn | None = None

    async def start(self) -> Call:
        self.turn = await self.engine.start_call(CallStarted(self.call_id, self.ani, self.dnis))
        self.records += self.turn.records
        return self

    async def press(self, digits: str) -> Turn:
        assert self.turn is not None
        self.turn = await self.engine.handle(self.turn.state, DigitsCollected(self.call_id, digits))
        self.records += self.turn.records
        return self.turn

    def operations(self, step: str) -> list[tuple[str | None, str]]:
        return [
            (r.outcome, r.data["detail"])
            for r in self.records
            if r.kind is RecordKind.OPERATION and r.step == step
        ]

    @property
    def status(self) -> str | None:
        assert self.turn is not None
        return self.turn.state.idv_status


def limited(operation: str, limit: str) -> float:
    value = REGISTRY.get_sample_value("ivr_limited_total", {"operation": operation, "limit": limit})
    return value or 0.0


async def test_a_limited_caller_is_routed_like_a_failure_and_journalled(engine: Engine) -> None:
    before = limited("directory.lookup_by_account", "identify_per_number")
    with_limits(engine, identify_per_number_per_hour=4, delay_s=0)
    for _ in range(2):  # 4 attempts reach the directory: two calls of 2 wrong + ... found
        call = await Call(engine, STRANGER, CARDS).start()
        await call.press("99999999#")
        await call.press("99999998#")
    call = await Call(engine, STRANGER, CARDS).start()
    turn = await call.press(ALICE_ACCOUNT)  # the right account, but the fifth attempt
    assert call.operations("account_number") == [("limited", "identify_per_number")]
    outcomes = [r.outcome for r in call.records if r.kind is RecordKind.STEP_OUTCOME]
    assert outcomes[-1] == "error"  # the flow's error route
    assert call.status == "not_identified"
    transfers = [a for a in turn.actions if isinstance(a, Transfer)]
    assert transfers  # routed to an agent, never stranded
    assert transfers[0].route_name == "agent"
    assert limited("directory.lookup_by_account", "identify_per_number") == before + 1
    other = await Call(engine, "+447700900999", CARDS).start()  # another number is not limited
    await other.press(ALICE_ACCOUNT)
    assert other.operations("account_number") == [("found", "")]


async def test_the_answer_to_a_limited_caller_does_not_depend_on_the_account(
    engine: Engine,
) -> None:
    with_limits(engine, identify_per_number_per_hour=3, delay_s=0)
    call = await Call(engine, STRANGER, CARDS).start()
    for digits in ("11111111#", "22222222#", "33333333#"):
        await call.press(digits)
    answers = []
    for digits in (ALICE_ACCOUNT, "99999999#", "23456789#", "45678901#"):
        probe = await Call(engine, STRANGER, CARDS).start()
        turn = await probe.press(digits)
        answers.append((turn.actions, probe.operations("account_number"), probe.status))
    assert all(answer == answers[0] for answer in answers)  # found or not, the same answer


async def test_one_account_named_from_many_numbers_slows_but_is_never_refused(
    engine: Engine,
) -> None:
    """Naming someone's account from many numbers used to refuse it to everyone, its owner
    included, for the hour: now those answers slow down and the owner still gets through."""
    with_limits(engine, identify_per_account_per_hour=5, delay_s=0.05, max_delay_s=0.1)
    for account in (ALICE_ACCOUNT, "99999999#"):  # an existing and a missing account alike
        seen, took = [], []
        for n in range(7):
            call = await Call(engine, f"+4477009010{n:02d}{account[0]}", CARDS).start()
            started = time.perf_counter()
            await call.press(account)
            took.append(time.perf_counter() - started)
            seen.append(call.operations("account_number")[0][0])
        assert "limited" not in seen, account
        assert took[0] < 0.05, account
        assert took[5] >= 0.05, account  # the 6th naming of the account: slowed
        assert took[6] >= 0.1, account  # doubled
    owner = await Call(engine, ALICE, CARDS).start()
    await owner.press(ALICE_ACCOUNT)
    assert owner.operations("account_number") == [("found", "")]


async def test_one_caller_naming_one_account_too_often_is_limited(engine: Engine) -> None:
    """The hard limit per account is per (account, caller): only that caller is stopped."""
    with_limits(engine, identify_per_account_per_hour=5, delay_s=0)
    seen = []
    for _ in range(6):
        call = await Call(engine, STRANGER, CARDS).start()
        await call.press(ALICE_ACCOUNT)
        seen.append(call.operations("account_number")[0])
    assert seen[:5] == [("found", "")] * 5
    assert seen[5] == ("limited", "identify_per_account")
    owner = await Call(engine, ALICE, CARDS).start()
    await owner.press(ALICE_ACCOUNT)
    assert owner.operations("account_number") == [("found", "")]


async def test_a_customer_keying_their_own_account_spends_no_allowance(engine: Engine) -> None:
    """Only failures count against a number: its owner identifying again and again is never
    limited (every attempt counted before, found or not)."""
    with_limits(engine, identify_per_number_per_hour=2, delay_s=0)
    for _ in range(5):
        call = await Call(engine, ALICE, CARDS).start()
        await call.press(ALICE_ACCOUNT)
        assert call.operations("account_number") == [("found", "")]
    call = await Call(engine, ALICE, CARDS).start()
    for digits in ("99999999#", "99999998#", "99999997#"):
        await call.press(digits)
    assert [o for o, _ in call.operations("account_number")] == [
        "not_found",
        "not_found",
        "limited",
    ]


async def test_the_line_ceiling_stops_failures_from_every_number(engine: Engine) -> None:
    with_limits(engine, identify_failures_per_minute=5, delay_s=0)
    for n in range(5):
        call = await Call(engine, f"+44770090200{n}", CARDS).start()
        await call.press("99999999#")
    fresh = await Call(engine, "+447700902999", CARDS).start()
    await fresh.press(ALICE_ACCOUNT)
    assert fresh.operations("account_number") == [("limited", "identify_line_ceiling")]


async def test_answers_slow_down_before_the_hard_limit(engine: Engine) -> None:
    with_limits(engine, delay_after_failures=1, delay_s=0.1, max_delay_s=0.2)
    call = await Call(engine, STRANGER, CARDS).start()
    took = []
    for digits in ("99999999#", "99999998#", "99999997#"):
        started = time.perf_counter()
        await call.press(digits)
        took.append(time.perf_counter() - started)
    assert took[0] < 0.1  # no failure yet: no delay
    assert took[1] >= 0.1  # one failure: 0.1 s
    assert took[2] >= 0.2  # two: doubled


async def stranger_guesses(engine: Engine, ani: str, calls: int) -> list[Call]:
    made = []
    for _ in range(calls):
        call = await Call(engine, ani, CARDS).start()
        await call.press(ALICE_ACCOUNT)
        for _ in range(3):
            if call.turn is not None and call.turn.state.ended:
                break
            await call.press("11111111#")
        made.append(call)
    return made


async def owner_calls(engine: Engine) -> Call:
    call = await Call(engine, ALICE, DEMO).start()
    await call.press("01021980#")
    return call


async def test_a_stranger_with_the_account_number_cannot_lock_the_owner_out(
    engine: Engine,
) -> None:
    stranger = await stranger_guesses(engine, STRANGER, 3)
    assert stranger[1].operations("date_of_birth")[-1] == (
        "locked",
        "locked for this calling number",
    )
    assert stranger[2].operations("date_of_birth") == [("locked", "locked for this calling number")]
    assert stranger[2].status == "identified_only"  # to an agent, flagged locked
    assert stranger[2].turn is not None
    assert stranger[2].turn.state.locked
    owner = await owner_calls(engine)
    assert owner.status == "identified_and_verified"


async def one_wrong_answer(engine: Engine, ani: str) -> Call:
    call = await Call(engine, ani, CARDS).start()
    await call.press(ALICE_ACCOUNT)
    await call.press("11111111#")
    return call


async def test_guesses_from_many_numbers_lock_the_customer_briefly_then_longer(
    engine: Engine, clock: Clock
) -> None:
    numbers = [f"+44770090300{n}" for n in range(4)]
    for number in numbers:  # 3 wrong answers per number: the 10th locks the customer
        await stranger_guesses(engine, number, 1)
    locked = await owner_calls(engine)
    assert locked.operations("date_of_birth") == [("locked", "customer locked for a while")]
    clock.now += 899
    assert (await owner_calls(engine)).status == "identified_only"
    clock.now += 2  # the first lock is 15 minutes: the owner is back
    assert (await owner_calls(engine)).status == "identified_and_verified"
    # past the threshold each wrong answer locks again; the 20th locks for an hour
    for n in range(10):
        guess = await one_wrong_answer(engine, f"+4477009031{n:02d}")
        assert guess.operations("date_of_birth") == [("wrong", "date_of_birth")]
        assert (await owner_calls(engine)).status == "identified_only"
        clock.now += 901 if n < 9 else 3599
    assert (await owner_calls(engine)).status == "identified_only"
    clock.now += 2
    assert (await owner_calls(engine)).status == "identified_and_verified"


async def test_withheld_callers_share_only_their_failures(engine: Engine) -> None:
    """Each withheld call has its own allowance, and withheld failures of the line count
    together: customers keying right numbers spend none of it, a sweep is stopped."""
    with_limits(engine, identify_withheld_per_hour=3, identify_per_number_per_hour=1, delay_s=0)
    for _ in range(5):
        customer = await Call(engine, None, CARDS).start()
        await customer.press(ALICE_ACCOUNT)
        assert customer.operations("account_number") == [("found", "")]
    seen = []
    for ani in (None, "anonymous", "withheld", None):
        call = await Call(engine, ani, CARDS).start()
        await call.press("99999999#")
        seen.append(call.operations("account_number")[0])
    assert seen[:3] == [("not_found", "")] * 3
    assert seen[3] == ("limited", "identify_withheld")


async def test_a_withheld_stranger_cannot_lock_a_withheld_owner_out(engine: Engine) -> None:
    """Wrong answers from a withheld call count against that call, not against every withheld
    caller (one shared key locked the owner calling withheld too)."""
    with_limits(engine, verify_failures_per_number=2)
    (stranger,) = await stranger_guesses(engine, None, 1)
    assert stranger.operations("date_of_birth")[-1] == ("locked", "locked for this calling number")
    owner = await Call(engine, None, CARDS).start()
    await owner.press(ALICE_ACCOUNT)
    await owner.press("01021980#")
    assert owner.status == "identified_and_verified"


async def test_the_delay_is_clamped_inside_the_operation_deadline(
    loaded: Loaded, counters: Counters, clock: Clock, tmp_path: Path
) -> None:
    """A delay longer than the operation's deadline allows would turn the attempt into a
    deadline error: it is cut to half of what is left, and the directory still answers."""
    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    directory = await SqliteDirectory.open(db, policy=BACKSTOP)
    guard = AbuseGuard(counters, b"test-key", clock)
    settings = EngineSettings(operation_deadline_s=0.5)
    built, _ = await build_engine(loaded, directory, settings=settings, guard=guard)
    with_limits(built, delay_after_failures=0, delay_s=1.0, max_delay_s=1.5)
    try:
        call = await Call(built, STRANGER, CARDS).start()
        started = time.perf_counter()
        await call.press("99999999#")
        took = time.perf_counter() - started
    finally:
        await directory.close()
    assert call.operations("account_number") == [("not_found", "")]  # not ("error", "deadline")
    assert 0.2 <= took < 0.5


async def test_counters_that_fail_let_the_attempt_through_counted(
    loaded: Loaded, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis gone (or failing over): the call goes on as without limits, the failure counted,
    logged once, and the guard's health (in /readyz) says so until the counters answer."""
    from ivr.limits.counters import MemoryCounters, RedisCounters

    db = tmp_path / "directory.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    directory = await SqliteDirectory.open(db, policy=BACKSTOP)
    broken = RedisCounters.from_url("redis://127.0.0.1:1/0", "nowhere:")
    guard = AbuseGuard(broken, b"k")
    built, _ = await build_engine(loaded, directory, guard=guard)
    before = REGISTRY.get_sample_value("ivr_limits_unavailable_total") or 0.0
    call = await Call(built, STRANGER, CARDS).start()
    await call.press(ALICE_ACCOUNT)
    owner = await Call(built, ALICE, DEMO).start()
    await owner.press("01021980#")
    health = await guard.health()
    await broken.close()
    guard.counters = MemoryCounters()
    guard.probe_every_s = 0  # the next /readyz probes again at once
    back = await guard.health()
    await directory.close()
    assert call.operations("account_number") == [("found", "")]
    assert owner.status == "identified_and_verified"
    assert (REGISTRY.get_sample_value("ivr_limits_unavailable_total") or 0.0) > before
    assert health == {"state": "down", "detail": "failing open: ConnectionError"}
    assert back == {"state": "ok"}
    logged = [r.getMessage() for r in caplog.records if r.name == "ivr.limits.guard"]
    assert logged == [
        "rate limits unavailable (failing open): ConnectionError",
        "rate limits available again",
    ]


class FirstAnswerSlow:
    """Counters across a network whose first answer takes longer than an attempt may wait
    (a Redis Cluster client reading the slot map on first use)."""

    remote = True

    def __init__(self, first_delay_s: float) -> None:
        self.delay_s = first_delay_s

    async def locked_until(self, key: str) -> float:
        delay, self.delay_s = self.delay_s, 0.0
        await asyncio.sleep(delay)
        return 0.0

    async def close(self) -> None:
        return None


async def test_the_counters_are_reached_at_startup_not_by_the_first_caller() -> None:
    cold = AbuseGuard(FirstAnswerSlow(0.5), b"key")  # type: ignore[arg-type]
    assert (await cold.health())["state"] == "down"  # what a first caller would meet
    warmed = AbuseGuard(FirstAnswerSlow(0.5), b"key")  # type: ignore[arg-type]
    await warmed.warm_up()
    assert await warmed.health() == {"state": "ok"}
