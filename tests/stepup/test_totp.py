"""TOTP codes: checked against pyotp, each time step once per customer, a drift window, the
secret sealed at rest with rotatable keys, and wrong codes in the same lockout as answers."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.callbacks.crypto import SecretBox
from ivr.directory.csv_import import ImportFailed, import_file
from ivr.directory.port import VerifyStatus
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.events import CallerIdTrust
from ivr.engine.operations import OperationCall
from ivr.stepup.operations import OneTimeCodes, otp_operations
from ivr.stepup.totp import TotpVerifier, matching_step
from ivr.stepup.wiring import one_time_codes

from .conftest import ALICE_SECRET, ROOT, FakeClock, code, settings_for


def otp_call(digits: str, customer: str | None = "C1001", **params: str) -> OperationCall:
    return OperationCall(
        call_id="call-1",
        ani="+447700900123",
        caller_id_trust=CallerIdTrust.UNKNOWN,
        customer_id=customer,
        digits=digits,
        params=params,
    )


async def test_the_code_of_now_verifies(codes: OneTimeCodes, clock: FakeClock) -> None:
    verify = otp_operations(codes)["verify.otp"]
    result = await verify(otp_call(code(clock.now)))
    assert result.outcome == "verified"
    assert result.factors == ("totp",)


async def test_a_replayed_code_in_the_same_step_is_refused(
    codes: OneTimeCodes, clock: FakeClock, directory: SqliteDirectory
) -> None:
    verify = otp_operations(codes)["verify.otp"]
    now_code = code(clock.now)
    assert (await verify(otp_call(now_code))).outcome == "verified"
    clock.advance(5)  # same 30 s step
    replay = await verify(otp_call(now_code))
    assert replay.outcome == "wrong"
    assert replay.detail == "time step already used"
    state = directory.lockout_state
    assert state is not None
    assert await state.failure_count("C1001", clock.now, directory.policy) == 1
    clock.advance(30)  # the next step's code is fresh
    assert (await verify(otp_call(code(clock.now)))).outcome == "verified"


async def test_an_earlier_step_after_a_later_one_is_refused(
    codes: OneTimeCodes, clock: FakeClock
) -> None:
    verify = otp_operations(codes)["verify.otp"]
    older = code(clock.now - 30)  # inside the drift window
    assert (await verify(otp_call(code(clock.now)))).outcome == "verified"
    assert (await verify(otp_call(older))).outcome == "wrong"


async def test_two_workers_cannot_both_take_one_step(
    directory: SqliteDirectory, tmp_path: Path, clock: FakeClock
) -> None:
    """A second connection to the same file (another worker) sees the step as used."""
    other = await SqliteDirectory.open(tmp_path / "directory.db", clock=clock)
    try:
        mine = one_time_codes(directory, settings_for(), clock)
        theirs = one_time_codes(other, settings_for(), clock)
        assert mine is not None
        assert theirs is not None
        now_code = code(clock.now)
        assert await mine.totp.check("C1001", now_code) == "verified"
        assert await theirs.totp.check("C1001", now_code) == "replayed"
    finally:
        await other.close()


@pytest.mark.parametrize(
    ("drift", "offset_steps", "accepted"),
    [
        (0, 0, True),
        (0, -1, False),
        (0, 1, False),
        (1, -1, True),
        (1, 1, True),
        (1, -2, False),
        (2, -2, True),
    ],
)
def test_the_drift_window(drift: int, offset_steps: int, accepted: bool) -> None:
    now = 1_700_000_010.0
    typed = code(now + 30 * offset_steps)
    step = matching_step(ALICE_SECRET, typed, now, drift)
    assert (step is not None) == accepted
    if accepted:
        assert step == int(now // 30) + offset_steps


async def test_the_drift_window_is_the_setting(
    directory: SqliteDirectory, clock: FakeClock
) -> None:
    strict = one_time_codes(directory, settings_for(otp_drift_steps=0), clock)
    assert strict is not None
    assert await strict.totp.check("C1001", code(clock.now - 30)) == "wrong"
    loose = one_time_codes(directory, settings_for(otp_drift_steps=1), clock)
    assert loose is not None
    assert await loose.totp.check("C1001", code(clock.now - 30)) == "verified"


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "######"])
def test_malformed_codes_never_match(typed: str) -> None:
    assert matching_step(ALICE_SECRET, typed, 1_700_000_010.0, 1) is None


async def test_a_customer_without_a_secret_is_not_enrolled(
    codes: OneTimeCodes, clock: FakeClock
) -> None:
    operations = otp_operations(codes)
    assert (await operations["verify.otp"](otp_call("123456", "C1002"))).outcome == "not_enrolled"
    assert (await operations["otp.enrolled"](otp_call("", "C1002"))).outcome == "not_enrolled"
    assert (await operations["otp.enrolled"](otp_call("", "C1001"))).outcome == "enrolled"
    assert (await operations["verify.otp"](otp_call("123456", None))).outcome == "error"


async def test_wrong_codes_lock_like_wrong_answers(
    codes: OneTimeCodes, clock: FakeClock, directory: SqliteDirectory
) -> None:
    verify = otp_operations(codes)["verify.otp"]
    right = code(clock.now)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):
        assert (await verify(otp_call(wrong))).outcome == "wrong"
    for _ in range(2):  # two wrong dates of birth: five failures in the one lockout
        assert await directory.verify_answer("C1001", "date_of_birth", "02021980") == "wrong"
    assert (await verify(otp_call(right))).outcome == "locked"  # even the right code
    assert await directory.verify_answer("C1001", "date_of_birth", "01021980") == (
        VerifyStatus.LOCKED
    )


def _file_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.glob("directory.db*"))


async def test_the_secret_is_sealed_at_rest(directory: SqliteDirectory, tmp_path: Path) -> None:
    stored = _file_bytes(tmp_path)
    assert ALICE_SECRET.encode() not in stored
    assert base64.b32decode(ALICE_SECRET) not in stored


async def test_a_sealed_secret_copied_to_another_customer_does_not_open(
    codes: OneTimeCodes, directory: SqliteDirectory, clock: FakeClock
) -> None:
    state = directory.otp_state
    assert state is not None
    alice = await state.enrolment("C1001")
    assert alice is not None
    await state.enrol("C1002", alice.key_id, alice.sealed)
    result = await otp_operations(codes)["verify.otp"](otp_call(code(clock.now), "C1002"))
    assert result.outcome == "error"
    assert result.detail == "secret unreadable"


async def test_rotation_opens_old_secrets_and_reseals_them(
    directory: SqliteDirectory, clock: FakeClock
) -> None:
    state = directory.otp_state
    assert state is not None
    old_key = os.urandom(32)
    old = SecretBox([("old", old_key)], "IVR_OTP_KEYS")
    await TotpVerifier(state, old, 1, clock).enrol("C1002", ALICE_SECRET)
    new_key = os.urandom(32)
    rotated = SecretBox([("new", new_key), ("old", old_key)], "IVR_OTP_KEYS")
    verifier = TotpVerifier(state, rotated, 1, clock)
    assert await verifier.check("C1002", code(clock.now)) == "verified"
    enrolment = await state.enrolment("C1002")
    assert enrolment is not None
    assert enrolment.key_id == "new"
    only_new = TotpVerifier(state, SecretBox([("new", new_key)], "IVR_OTP_KEYS"), 1, clock)
    assert await only_new.secret("C1002") == ALICE_SECRET


async def test_import_refuses_a_bad_secret_without_quoting_it(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text(
        "customer_id,name,phones,account_number,date_of_birth,totp_secret\n"
        "C1,Ann,,11112222,01021980,NOT-BASE32-SECRET-1111111111\n"
        "C2,Ben,,11113333,01021980,SHORTSECRET\n"
    )
    with pytest.raises(ImportFailed) as failed:
        await import_file(csv, tmp_path / "d.db")
    text = str(failed.value)
    assert "c.csv:2: totp_secret: a TOTP secret must be base32" in text
    assert "c.csv:3: totp_secret: a TOTP secret needs at least 26" in text
    assert "NOT-BASE32" not in text
    assert "SHORTSECRET" not in text


async def test_reimport_without_a_secret_removes_the_enrolment(
    tmp_path: Path, clock: FakeClock
) -> None:
    db = tmp_path / "d.db"
    await import_file(ROOT / "config" / "demo-customers.csv", db)
    csv = tmp_path / "c.csv"
    csv.write_text("customer_id,name,phones,account_number\nC1001,Alice Example,,12345678\n")
    await import_file(csv, db)
    directory = await SqliteDirectory.open(db)
    try:
        codes = one_time_codes(directory, settings_for(), clock)
        assert codes is not None
        assert not await codes.totp.is_enrolled("C1001")
    finally:
        await directory.close()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ivr", *args],
        capture_output=True, text=True, cwd=ROOT, env=environment, check=False,
    )  # fmt: skip


def test_cli_import_seals_and_totp_code_prints_the_current_code(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    imported = _cli("customers", "import", "config/demo-customers.csv", "--db", str(db))
    assert imported.returncode == 0, imported.stderr
    assert ALICE_SECRET not in imported.stdout + imported.stderr
    import pyotp

    before = pyotp.TOTP(ALICE_SECRET).now()
    shown = _cli("customers", "totp-code", "C1001", "--db", str(db))
    after = pyotp.TOTP(ALICE_SECRET).now()
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() in (before, after)
    missing = _cli("customers", "totp-code", "C1002", "--db", str(db))
    assert missing.returncode == 1
    assert "not enrolled" in missing.stderr


def test_totp_code_is_refused_with_real_keys(tmp_path: Path) -> None:
    key = "prod:" + base64.b64encode(os.urandom(32)).decode()
    db = tmp_path / "d.db"
    assert _cli("customers", "import", "config/demo-customers.csv", "--db", str(db),
                env={"IVR_OTP_KEYS": key}).returncode == 0  # fmt: skip
    refused = _cli("customers", "totp-code", "C1001", "--db", str(db), env={"IVR_OTP_KEYS": key})
    assert refused.returncode == 2
    assert "refused" in refused.stderr
    forced = _cli("customers", "totp-code", "C1001", "--db", str(db),
                  "--i-know-this-is-not-production", env={"IVR_OTP_KEYS": key})  # fmt: skip
    assert forced.returncode == 0
    assert len(forced.stdout.strip()) == 6
