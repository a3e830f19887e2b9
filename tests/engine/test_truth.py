"""Issue 13: the hand-off, the live call, the journal and the extracts tell the same truth
(`idv_status`, `factors_passed`, `locked`) whatever the caller does, on the default flow and
on the two-question flow (cards: a partial security number, then the date of birth)."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.bootstrap import Loaded
from ivr.directory.sqlite_store import CustomerRecord, SqliteDirectory
from ivr.engine.actions import CollectDigits, Transfer
from ivr.engine.directory_ops import registry_for
from ivr.engine.events import CallStarted, DigitsCollected, HungUp, NoInput
from ivr.engine.runtime import Engine, EngineSettings
from ivr.journal.extracts import extract_csv
from ivr.journal.records import JournalRecord, RecordKind
from ivr.journal.store import ReportFilter, open_store
from ivr.tokens import TokenIssuer

DEMO_LINE, CARD_LINE = "+441134960000", "+441134960002"
CUSTOMERS = [
    CustomerRecord(
        "T1", "Tess", ("+447700900123",), "12345678",
        {"date_of_birth": "01021980", "security_number": "73920461"},
    ),
    CustomerRecord(
        "T2", "Lou Locked", ("+447700900321",), "87654321",
        {"date_of_birth": "05051970", "security_number": "11223344"},
    ),
    CustomerRecord("T3", "Nell Nothing", ("+447700900999",), "55556666", {}),
]  # fmt: skip
SECRETS = {"T1": ("01021980", "73920461"), "T2": ("05051970", "11223344"), "T3": ("", "")}
ACCOUNTS = {"T1": "12345678", "T2": "87654321", "T3": "55556666"}
LOCKED = "T2"

behaviour = st.sampled_from(
    ["right", "right", "right", "wrong", "short", "star", "silence", "hangup", "1", "2", "9"]
)
call_ids = itertools.count()


def test_every_view_of_a_call_tells_the_same_truth(loaded: Loaded, tmp_path: Path) -> None:
    async def prepare() -> None:
        directory = await SqliteDirectory.open(tmp_path / "d.db")
        await directory.upsert_customers(CUSTOMERS, loaded.config.fields)
        assert directory.lockout_state is not None
        for _ in range(directory.policy.max_failures):
            await directory.lockout_state.begin_attempt(LOCKED, time.time(), directory.policy)
        await directory.close()

    asyncio.run(prepare())

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        line=st.sampled_from([DEMO_LINE, CARD_LINE]),
        who=st.sampled_from(["T1", "T2", "T3", None]),
        by_ani=st.booleans(),
        script=st.lists(behaviour, min_size=0, max_size=14),
    )
    def check(line: str, who: str | None, by_ani: bool, script: list[str]) -> None:
        asyncio.run(_call(loaded, tmp_path, line, who, by_ani, script))

    check()


def _keys(choice: str, collect: CollectDigits, who: str | None) -> str | None:
    """The caller's keys for one prompt; None for silence."""
    step = collect.step
    if choice == "silence":
        return None
    if choice == "star":
        return "*"
    if choice in ("1", "2", "9"):
        return choice
    if choice == "short":
        return "12#"
    if step == "account_number":
        right = ACCOUNTS.get(who or "", "00000001")
        return right + "#" if choice == "right" else "99999999#"
    if step in ("date_of_birth", "security_digits"):
        dob, secret = SECRETS.get(who or "", ("", ""))
        if step == "date_of_birth":
            return (dob or "01011111") + "#" if choice == "right" else "02021902#"
        digits = "".join(secret[p - 1] for p in collect.positions) if secret else "00"
        return digits if choice == "right" else "".join("9" if d != "9" else "8" for d in digits)
    return "1" if choice == "right" else "5"


async def _call(
    loaded: Loaded, folder: Path, line: str, who: str | None, by_ani: bool, script: list[str]
) -> None:
    directory = await SqliteDirectory.open(folder / "d.db")
    store = await open_store(f"sqlite:///{folder}/journal.db")
    try:
        engine = Engine(
            loaded.registry,
            loaded.config,
            loaded.catalog,
            registry_for(directory),
            TokenIssuer("truth-test-key-of-a-sufficient-length!!"),
            EngineSettings(step_budget=60),
        )
        call_id = f"truth-{next(call_ids)}"
        ani = next((c.phones[0] for c in CUSTOMERS if c.customer_id == who), None)
        turn = await engine.start_call(CallStarted(call_id, ani if by_ani else None, line))
        state = turn.state
        records: list[JournalRecord] = list(turn.records)
        actions = list(turn.actions)
        choices = iter([*script, *["silence"] * 40])
        while not state.ended:
            collect = next(a for a in reversed(actions) if isinstance(a, CollectDigits))
            choice = next(choices)
            if choice == "hangup":
                turn = await engine.handle(state, HungUp(call_id))
            else:
                keys = _keys(choice, collect, who)
                event = NoInput(call_id) if keys is None else DigitsCollected(call_id, keys)
                turn = await engine.handle(state, event)
            records += turn.records
            actions += turn.actions
        await store.append(records)
        await _agree(store, state, actions, call_id)
    finally:
        await store.close()
        await directory.close()


async def _agree(store: Any, state: Any, actions: list[Any], call_id: str) -> None:
    factors = list(state.factors_passed)
    # the live call (what /calls/{id} and the live views show) is the journal's status record
    journey = await store.journey(call_id)
    statuses = [r for r in journey if r.kind == RecordKind.IDV_STATUS]
    assert len(statuses) == 1
    record = statuses[0]
    assert record.outcome == state.idv_status
    assert record.data["factors_passed"] == factors
    assert record.data["locked"] is state.locked
    # the calls table the reports read, and the extract
    rows = await store.fetch(
        "SELECT idv_status, factors_passed, locked FROM calls WHERE call_id = :c", {"c": call_id}
    )
    assert rows == [(state.idv_status, ";".join(factors), int(state.locked))]
    text = "".join([chunk async for chunk in extract_csv(store, "calls", ReportFilter())])
    extract = next(r for r in csv.DictReader(io.StringIO(text)) if r["call_id"] == call_id)
    assert extract["idv_status"] == state.idv_status
    assert extract["factors_passed"] == ";".join(factors)
    assert extract["locked"] == str(int(state.locked))
    # the hand-off, when the call was handed on
    transfers = [a for a in actions if isinstance(a, Transfer)]
    if transfers:
        handoff = transfers[-1].handoff
        assert handoff["idv_status"] == state.idv_status
        if state.locked:
            assert handoff["locked"] is True
        if "locked" in handoff:
            assert handoff["locked"] is state.locked
        if "factors_passed" in handoff:
            assert handoff["factors_passed"] == factors
    # and the truth itself: verified only with a factor, the locked customer always flagged
    if state.idv_status == "identified_and_verified":
        assert factors
        assert state.customer_id is not None
    if state.customer_id == LOCKED:
        assert state.locked
