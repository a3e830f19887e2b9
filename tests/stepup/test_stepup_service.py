"""Step-up challenges and their validation tokens against a real journal database: settled
once, a token spendable once and only for its audience, the keypad operation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from ivr.callbacks.db import open_database
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.events import CallerIdTrust
from ivr.engine.operations import OperationCall, OperationRegistry
from ivr.stepup.challenges import Status, StepUpStore
from ivr.stepup.keypad import keypad_operation
from ivr.stepup.operations import otp_operations
from ivr.stepup.service import AlreadyUsed, StepUpService
from ivr.stepup.tokens import ValidationTokens
from ivr.stepup.wiring import one_time_codes
from ivr.tokens import AUDIENCE as VISUAL_IVR
from ivr.tokens import TokenError, TokenIssuer
from tests.journal.conftest import pg_url, sqlite_url, store_url

from .conftest import code, settings_for

__all__ = ["pg_url", "sqlite_url", "store_url"]

KEY = "step-up-test-token-key-of-32-bytes-or-more"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[StepUpStore]:
    """The journal database on SQLite and on PostgreSQL (migration 5 on both)."""
    db = await open_database(store_url)
    yield StepUpStore(db)
    await db.close()


@pytest.fixture
def registry(directory: SqliteDirectory) -> OperationRegistry:
    codes = one_time_codes(directory, settings_for())  # real time: tokens are checked by PyJWT
    assert codes is not None
    return OperationRegistry(implementations=dict(otp_operations(codes)))


def service_for(
    store: StepUpStore, registry: OperationRegistry, notes: list[dict]
) -> StepUpService:
    async def verify(customer_id: str, method: str, typed: str, by: str) -> str:
        _, check = registry.get("verify.otp")
        call = OperationCall(
            "su", None, CallerIdTrust.UNKNOWN, customer_id, typed, {"method": method}
        )
        return (await check(call)).outcome

    return StepUpService(store, verify, ValidationTokens(KEY), notes.append)


async def test_a_step_up_is_settled_once_and_its_token_spent_once(
    store: StepUpStore, registry: OperationRegistry
) -> None:
    notes: list[dict] = []
    service = service_for(store, registry, notes)
    step_up = await service.start("C1001", "call-9", "totp", "payments-backend", "transfer")
    wrong = await service.answer(
        step_up, "000000" if code(time.time()) != "000000" else "1" * 6, "app"
    )
    assert wrong.outcome == "wrong"
    assert wrong.step_up.status is Status.PENDING
    right = await service.answer(wrong.step_up, code(time.time()), "app")
    assert right.outcome == "verified"
    assert right.step_up.answered_by == "app"
    late = await service.answer(right.step_up, code(time.time()), "keypad")
    assert late.outcome == "verified"  # already settled: nothing changes
    (note,) = notes
    assert note["status"] == "verified"
    token = note["validation_token"]
    with pytest.raises(TokenError, match="wrong audience"):
        await service.redeem(token, "agent-desktop")
    claims = await service.redeem(token, "payments-backend")
    assert claims["sub"] == "C1001"
    assert claims["call_id"] == "call-9"
    with pytest.raises(AlreadyUsed):
        await service.redeem(token, "payments-backend")
    fresh = await store.get(step_up.id)
    assert fresh is not None
    assert "validation_token" not in service.view(fresh)


async def test_a_step_up_token_is_no_visual_ivr_token(
    store: StepUpStore, registry: OperationRegistry
) -> None:
    service = service_for(store, registry, [])
    step_up = await service.start("C1001", None, "totp", "visual-ivr", None)
    answered = await service.answer(step_up, code(time.time()), "app")
    token = service.token_for(answered.step_up)
    assert token is not None
    with pytest.raises(TokenError, match="wrong audience"):
        TokenIssuer(KEY).verify(token)  # audience step-up:visual-ivr, never visual-ivr
    assert VISUAL_IVR == "visual-ivr"
    with pytest.raises(TokenError, match="bad signature"):
        ValidationTokens("another-key-also-32-bytes-long-xx").check(token, "visual-ivr")


async def test_three_wrong_codes_fail_the_step_up(
    store: StepUpStore, registry: OperationRegistry
) -> None:
    notes: list[dict] = []
    service = service_for(store, registry, notes)
    step_up = await service.start("C1001", None, "totp", "agent-desktop", None)
    wrong = "000000" if code(time.time()) != "000000" else "111111"
    outcomes = []
    for _ in range(3):
        result = await service.answer(step_up, wrong, "app")
        step_up = result.step_up
        outcomes.append(result.outcome)
    assert outcomes == ["wrong", "wrong", "failed"]
    assert step_up.status is Status.FAILED
    assert (await service.answer(step_up, code(time.time()), "app")).outcome == "failed"
    assert [n["status"] for n in notes] == ["failed"]
    assert "validation_token" not in notes[0]


async def test_an_unanswered_step_up_expires(
    store: StepUpStore, registry: OperationRegistry
) -> None:
    notes: list[dict] = []
    service = service_for(store, registry, notes)
    step_up = await service.start("C1001", None, "totp", "agent-desktop", None)
    await store.db.execute("UPDATE step_ups SET expires_at = 0 WHERE id = :id", {"id": step_up.id})
    current = await service.current(step_up.id)
    assert current is not None
    assert current.status is Status.EXPIRED
    assert (await service.answer(current, code(time.time()), "app")).outcome == "expired"
    assert [n["status"] for n in notes] == ["expired"]


async def test_the_keypad_answers_the_calls_step_up(
    store: StepUpStore, registry: OperationRegistry
) -> None:
    service = service_for(store, registry, [])
    keypad = keypad_operation(service, registry)

    def call(digits: str, customer: str | None = "C1001") -> OperationCall:
        return OperationCall("call-7", "+447700900123", CallerIdTrust.UNKNOWN, customer, digits, {})

    assert (await keypad(call(code(time.time())))).outcome == "no_challenge"
    step_up = await service.start("C1001", "call-7", "totp", "agent-desktop", None)
    assert (await keypad(call("123456", "C1002"))).outcome == "no_challenge"  # not theirs
    result = await keypad(call(code(time.time())))
    assert result.outcome == "verified"
    assert result.factors == ("totp",)
    settled = await store.get(step_up.id)
    assert settled is not None
    assert settled.answered_by == "keypad"


async def test_an_app_and_a_keypad_answer_together_settle_once(
    store: StepUpStore, registry: OperationRegistry
) -> None:
    notes: list[dict] = []
    service = service_for(store, registry, notes)
    step_up = await service.start("C1001", "call-5", "totp", "agent-desktop", None)
    right = code(time.time())
    first, second = await asyncio.gather(
        service.answer(step_up, right, "app"), service.answer(step_up, right, "keypad")
    )
    assert {first.outcome, second.outcome} <= {"verified", "wrong"}
    assert "verified" in (first.outcome, second.outcome)
    assert len(notes) == 1  # one settlement, one webhook
    settled = await store.get(step_up.id)
    assert settled is not None
    assert settled.status is Status.VERIFIED
