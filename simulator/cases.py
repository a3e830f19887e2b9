"""`*.test.yaml`: business users' test cases for a flow, and the runner that plays them.

flow: idv                       # the flow id under test
customers:                      # the directory for these cases (a fresh one per case)
  - {customer_id: C1, name: Alice, phones: ["+447700900123"],
     account_number: "12345678", date_of_birth: "01021980"}
cases:
  - name: Known caller verified first time
    given: {ani: "+447700900123", dnis: "+441134960000",
            operations: {directory.lookup_by_ani: {outcome: error}}}   # optional stubs
    steps:
      - expect_prompt: ask_date_of_birth
      - press: "01021980#"          # or: timeout, hangup
    expect: {idv_status: identified_and_verified, route: {kind: self_service},
             handoff: {customer_id: C1}, token_issued: true, ended_by: route,
             prompts: [welcome, ask_date_of_birth, verified_thanks], attempts: {...}}
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.bootstrap import Loaded, build_engine
from ivr.callbacks.queues import Queues
from ivr.directory.csv_import import enrol_totp
from ivr.directory.sqlite_store import CustomerRecord, SqliteDirectory
from ivr.engine.actions import CollectDigits
from ivr.engine.directory_ops import directory_operations
from ivr.engine.operations import Operation, OperationCall, OperationRegistry, OperationResult
from ivr.engine.runtime import EngineSettings
from ivr.fields import FieldSpec
from ivr.journal.records import JournalRecord
from ivr.settings import Settings
from ivr.stepup.operations import otp_operations
from ivr.stepup.totp import code_at
from ivr.stepup.wiring import one_time_codes, otp_box
from simulator.callback_case import CallbackFixture, booked_callback
from simulator.driver import CallDriver
from simulator.local import LocalDriver
from simulator.player import CallOutcome, play_call
from simulator.script import CallerStep


class CaseFileError(Exception):
    """A test file that cannot be read; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StubSpec(_Strict):
    """Force an operation's result: an outcome, a hang past the deadline, or a failure."""

    outcome: str | None = None
    hang: bool = False
    fail: bool = False
    field: str | None = None  # only for steps checking this field (`with: {field: ...}`)
    method: str | None = None  # only for steps of this method (`with: {method: sent}`)
    values: dict[str, str] = Field(default_factory=dict)  # prompt values the outcome sets


class Given(_Strict):
    ani: str | None = None
    dnis: str | None = None
    trust: Literal["A", "B", "C", "failed", "unknown"] = "unknown"
    operations: dict[str, StubSpec] = Field(default_factory=dict)
    callback: CallbackFixture | None = None  # the call is a callback the company places


class Step(_Strict):
    press: str | None = Field(default=None, pattern=r"^[0-9*#A-D]+$")
    # a partial answer: the whole secret; the caller keys the digits at the asked positions
    answer_positions_of: str | None = Field(default=None, pattern=r"^[0-9]+#?$")
    # a one-time code: the customer's TOTP secret; the caller keys the code it shows now, and #
    totp_code_of: str | None = None
    timeout: bool = False
    hangup: bool = False
    expect_prompt: str | None = None


class Expect(_Strict):
    idv_status: str | None = None
    customer_id: str | None = None
    route: dict[str, str | None] | None = None
    handoff: dict[str, Any] | None = None
    token_issued: bool | None = None
    prompts: list[str] | None = None
    attempts: dict[str, int] | None = None
    ended_by: Literal["route", "hangup"] | None = None
    callback_status: str | None = None  # the callback's status once the call is over


class Case(_Strict):
    name: str
    given: Given = Given()
    steps: list[Step] = Field(default_factory=list)
    expect: Expect = Expect()


class CustomerFixture(BaseModel):
    """A customer for the cases; any other key is the answer to a directory field
    (`date_of_birth: "01021980"`, `security_number: "73920461"`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    customer_id: str
    name: str
    phones: list[str] = Field(default_factory=list)
    account_number: str | None = None
    locked: bool = False  # too many wrong answers already: verification is refused
    totp_secret: str | None = None  # enrolled for TOTP one-time codes (base32)

    def answers(self) -> dict[str, str]:
        extra = self.model_extra or {}
        return {str(name): str(value) for name, value in extra.items() if value is not None}


class CaseFile(_Strict):
    flow: str
    customers: list[CustomerFixture] = Field(default_factory=list)
    settings: dict[str, float] = Field(default_factory=dict)  # e.g. operation_deadline_s
    cases: list[Case] = Field(min_length=1)


@dataclass
class CaseResult:
    name: str
    failures: list[str]
    outcome: CallOutcome | None
    records: list[JournalRecord] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def read_case_file(path: Path) -> CaseFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CaseFileError(f"{path}: {error}") from error
    try:
        return CaseFile.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise CaseFileError(f"{path}: {problems}") from error


class _ListSink:
    def __init__(self) -> None:
        self.records: list[JournalRecord] = []

    def write(self, records: list[JournalRecord]) -> None:
        self.records.extend(records)


def _stub(spec: StubSpec, real: Operation | None) -> Operation:
    async def stubbed(call: OperationCall) -> OperationResult:
        other_field = spec.field is not None and call.params.get("field") != spec.field
        other_method = spec.method is not None and call.params.get("method") != spec.method
        if other_field or other_method:
            assert real is not None
            return await real(call)
        if spec.hang:
            await asyncio.sleep(3600)
        if spec.fail:
            raise RuntimeError("stubbed failure")
        if spec.outcome is not None:
            return OperationResult(spec.outcome, detail="stub", values=spec.values)
        assert real is not None
        return await real(call)

    return stubbed


async def _directory(
    fixtures: list[CustomerFixture], folder: Path, fields: Mapping[str, FieldSpec]
) -> SqliteDirectory:
    directory = await SqliteDirectory.open(folder / "directory.db")
    records = [
        CustomerRecord(
            customer_id=c.customer_id,
            name=c.name,
            phones=tuple(c.phones),
            account_number=c.account_number,
            answers=c.answers(),
            totp_secret=c.totp_secret,
        )
        for c in fixtures
    ]
    try:
        unknown = sorted({name for r in records for name in r.answers} - set(fields))
        if unknown:
            raise CaseFileError(
                f"customers name {', '.join(unknown)}, which config/directory.yaml does not "
                f"declare; fields: {', '.join(fields)}"
            )
        if records:
            await directory.upsert_customers(records, fields)
            await enrol_totp(directory, records, otp_box(Settings.defaults()))
        state = directory.lockout_state
        for locked in (c for c in fixtures if c.locked):
            for _ in range(directory.policy.max_failures):
                assert state is not None
                await state.begin_attempt(locked.customer_id, time.time(), directory.policy)
    except BaseException:
        await directory.close()
        raise
    return directory


async def run_case(loaded: Loaded, cases: CaseFile, case: Case) -> CaseResult:
    """Play one case in process against a fresh directory holding the file's customers."""
    with tempfile.TemporaryDirectory(prefix="ivr-case-") as folder:
        try:
            directory = await _directory(cases.customers, Path(folder), loaded.config.fields)
        except CaseFileError as error:
            return CaseResult(case.name, [str(error)], None)
        try:
            settings = EngineSettings(**cases.settings)  # type: ignore[arg-type]
            engine, _ = await build_engine(loaded, directory, settings)
            real = directory_operations(directory)
            codes = one_time_codes(directory, Settings.defaults())
            if codes is not None:
                real.update(otp_operations(codes))
            registry = OperationRegistry(implementations=dict(real))
            played = None
            if case.given.callback is not None:  # real callback operations, stubs may follow
                configured = Queues.load(loaded.config_dir) if loaded.config_dir else None
                played = await booked_callback(
                    case.given.callback, registry, cases.flow, Path(folder), configured
                )
            for name, spec in case.given.operations.items():
                if name not in registry.specs:
                    return CaseResult(case.name, [f"no operation named {name!r}"], None)
                registry.implementations[name] = _stub(spec, registry.implementations.get(name))
            engine.operations = registry
            sink = _ListSink()
            context = played.context if played is not None else None
            driver = LocalDriver(engine, flow_id=cases.flow, journal=sink, context=context)
            result = await _play_case(driver, case)
            result.records = sink.records
            if played is not None:
                status = await played.close()
                wanted = case.expect.callback_status
                if wanted is not None and status != wanted:
                    result.failures.append(f"callback_status: expected {wanted!r}, got {status!r}")
            return result
        finally:
            await directory.close()


async def run_case_remote(driver: CallDriver, case: Case) -> CaseResult:
    """Play one case through a running server; its directory must hold the file's customers.

    Operation stubs cannot be forced on a remote server: such cases are not run over HTTP
    (`remote_blocker` says why), and the caller reports them.
    """
    try:
        return await _play_case(driver, case)
    finally:
        await driver.close()


async def _play_case(driver: CallDriver, case: Case) -> CaseResult:
    failures: list[str] = []
    outcome = await play_call(
        driver,
        _case_caller(case, failures),
        ani=case.given.ani,
        dnis=case.given.dnis,
        trust=case.given.trust,
        call_id=f"test-{uuid.uuid4().hex}",
    )
    failures += check_expectations(case.expect, outcome)
    return CaseResult(case.name, failures, outcome)


def unchecked(expect: Expect, outcome: CallOutcome | None) -> list[str]:
    """Expected fields this protocol could not report, for the runner to say so."""
    if outcome is None:
        return []
    wanted = {name for name, value in expect.model_dump().items() if value is not None}
    return sorted(wanted & outcome.summary.unobservable)


def remote_blocker(case: Case, cases: CaseFile | None = None) -> str | None:
    """Why a case cannot run through a server (whose directory holds the demo customers)."""
    if case.given.operations:
        return "needs operation stubs, which only run in process"
    if case.given.callback:
        return "plays a callback booked in a scratch database, which only runs in process"
    if any(step.answer_positions_of is not None for step in case.steps):
        return "keys a partial answer: the gateway protocols do not carry the positions asked"
    if any(step.totp_code_of is not None for step in case.steps):
        return "keys a one-time code: a running server accepts each code once, whatever case"
    locked = [c for c in (cases.customers if cases else []) if c.locked]
    phones = {phone for c in locked for phone in c.phones}
    accounts = {c.account_number for c in locked if c.account_number}
    pressed = {step.press.rstrip("#") for step in case.steps if step.press}
    if case.given.ani in phones or pressed & accounts:
        return "needs a customer locked out before the call, which only a fresh directory has"
    return None


def _case_caller(case: Case, failures: list[str]) -> Any:
    steps = list(case.steps)

    async def next_step(collect: CollectDigits) -> CallerStep | None:
        while steps:
            step = steps.pop(0)
            if step.expect_prompt is not None:
                heard = [p.prompt_id for p in collect.prompts]
                if step.expect_prompt not in heard:
                    failures.append(
                        f"expected prompt {step.expect_prompt!r}, the caller heard {heard}"
                    )
                continue
            if step.hangup:
                return CallerStep("hangup")
            if step.timeout:
                return CallerStep("timeout")
            if step.press is not None:
                return CallerStep("press", step.press)
            if step.answer_positions_of is not None:
                return CallerStep("press", _at_positions(step.answer_positions_of, collect))
            if step.totp_code_of is not None:
                return CallerStep("press", code_at(step.totp_code_of, time.time()) + "#")
        return None

    return next_step


def _at_positions(secret: str, collect: CollectDigits) -> str:
    """The digits of `secret` the prompt asked for (all of it when no positions were asked)."""
    end = "#" if secret.endswith("#") else ""
    digits = secret.removesuffix("#")
    if not collect.positions:
        return digits + end
    return "".join(digits[p - 1] for p in collect.positions if p <= len(digits)) + end


def check_expectations(expect: Expect, outcome: CallOutcome) -> list[str]:
    """What differs from the expectations; fields the protocol cannot report are left out
    (see `unchecked`)."""
    result = outcome.to_json()
    failures: list[str] = []
    hidden = outcome.summary.unobservable

    def differ(name: str, wanted: Any, got: Any) -> None:
        if name in hidden:
            return
        if wanted is not None and wanted != got:
            failures.append(f"{name}: expected {wanted!r}, got {got!r}")

    differ("idv_status", expect.idv_status, result["idv_status"])
    differ("customer_id", expect.customer_id, result["customer_id"])
    differ("ended_by", expect.ended_by, result["ended_by"])
    differ("prompts", expect.prompts, result["prompts"])
    for key, value in (expect.route or {}).items():
        differ(f"route.{key}", value, result["route"].get(key))
    for key, value in (expect.handoff or {}).items():
        differ(f"handoff.{key}", value, result["handoff"].get(key))
    for step, count in (expect.attempts or {}).items():
        differ(f"attempts.{step}", count, result["attempts"].get(step))
    if expect.token_issued is not None:
        issued = bool(result["handoff"].get("idv_token"))
        differ("token_issued", expect.token_issued, issued)
    return failures
