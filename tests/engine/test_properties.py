"""Whatever the caller does, every call ends in a route or a hang-up within the step budget."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.bootstrap import Loaded
from ivr.directory.csv_import import import_file
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.directory_ops import registry_for
from ivr.engine.events import CallStarted, DigitsCollected, HungUp, NoInput, PromptFinished
from ivr.engine.runtime import Engine, EngineSettings
from ivr.tokens import TokenIssuer
from tests.engine.conftest import ROOT

keys = st.text(alphabet="0123456789*#", min_size=0, max_size=12)
caller_event = st.one_of(
    keys.map(lambda k: ("digits", k)),
    st.just(("no_input", "")),
    st.just(("prompt_finished", "")),
    st.just(("hangup", "")),
)
known_keys = st.sampled_from(["12345678#", "01021980#", "23456789", "15071975#", "*", "#"])
scripts = st.lists(st.one_of(caller_event, known_keys.map(lambda k: ("digits", k))), max_size=25)
anis = st.sampled_from(
    [None, "+447700900123", "+447700900789", "anonymous", "sip:x@y", "07700900456"]
)
lines = st.sampled_from(["+441134960000", "+441134960001", None, "+10000000000"])


def test_any_caller_behaviour_ends_in_a_route_or_a_hang_up(loaded: Loaded, tmp_path: Path) -> None:
    db = tmp_path / "directory.db"
    asyncio.run(import_file(ROOT / "config" / "demo-customers.csv", db))

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(script=scripts, ani=anis, dnis=lines)
    def check(script: list[tuple[str, str]], ani: str | None, dnis: str | None) -> None:
        asyncio.run(_run(loaded, db, script, ani, dnis))

    check()


async def _run(
    loaded: Loaded, db: Path, script: list[tuple[str, str]], ani: str | None, dnis: str | None
) -> None:
    directory = await SqliteDirectory.open(db)
    try:
        budget = 40
        engine = Engine(
            loaded.registry,
            loaded.config,
            loaded.catalog,
            registry_for(directory),
            TokenIssuer("property-test-key-of-sufficient-length!"),
            EngineSettings(step_budget=budget),
        )
        state = (await engine.start_call(CallStarted("p", ani, dnis))).state
        for kind, digits in script:
            if state.ended:
                break
            event = {
                "digits": DigitsCollected("p", digits),
                "no_input": NoInput("p"),
                "prompt_finished": PromptFinished("p"),
                "hangup": HungUp("p"),
            }[kind]
            await engine.handle(state, event)
        # a caller who stays silent from here on is still routed within the budget
        for _ in range(budget):
            if state.ended:
                break
            await engine.handle(state, NoInput("p"))
        assert state.ended_by in ("route", "hangup")
        assert state.steps_taken <= budget
        assert state.idv_status in ("identified_and_verified", "identified_only", "not_identified")
        if state.idv_status == "identified_and_verified":
            assert state.customer_id is not None
            assert state.factors_passed
    finally:
        await directory.close()
