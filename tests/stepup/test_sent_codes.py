"""Codes sent through the provider port, against the loopback provider: only a keyed hash is
kept, a code expires, its tries and its resends are capped, and a broken provider is the
`error` outcome (counted in metrics, logged), never a stranded caller."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.events import CallerIdTrust
from ivr.engine.operations import Operation, OperationCall
from ivr.stepup.operations import otp_operations
from ivr.stepup.provider import CodeMessage, HttpCodeProvider, ProviderError
from ivr.stepup.wiring import one_time_codes
from tests.stepup.provider_server import TOKEN, LoopbackProvider, free_port

from .conftest import FakeClock, settings_for


def call(digits: str = "", customer: str = "C1002", **params: str) -> OperationCall:
    return OperationCall("call-1", "+447700900456", CallerIdTrust.UNKNOWN, customer, digits, params)


def operations(
    directory: SqliteDirectory, clock: FakeClock, url: str, **values: object
) -> dict[str, Operation]:
    settings = settings_for(url, otp_provider_token=_secret(TOKEN), **values)
    codes = one_time_codes(directory, settings, clock)
    assert codes is not None
    assert codes.lockout is not None
    codes.lockout.clock = clock
    return otp_operations(codes)


def _secret(value: str) -> object:
    from pydantic import SecretStr

    return SecretStr(value)


def _file_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.glob("directory.db*"))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_sent_code_verifies_once(
    directory: SqliteDirectory, clock: FakeClock, provider: LoopbackProvider, tmp_path: Path
) -> None:
    ops = operations(directory, clock, provider.url)
    sent = await ops["otp.send"](call(channel="sms"))
    assert sent.outcome == "sent"
    (message,) = provider.messages
    assert message["customer_id"] == "C1002"
    assert message["channel"] == "sms"
    assert message["ttl_s"] == 300
    the_code = str(message["code"])
    assert len(the_code) == 6
    assert the_code.isdigit()
    stored = _file_bytes(tmp_path)
    assert the_code.encode() not in stored  # only the keyed hash is kept
    verified = await ops["verify.otp"](call(the_code, method="sent"))
    assert verified.outcome == "verified"
    assert verified.factors == ("sent_code",)
    again = await ops["verify.otp"](call(the_code, method="sent"))
    assert again.outcome == "expired"


async def test_a_code_expires(
    directory: SqliteDirectory, clock: FakeClock, provider: LoopbackProvider
) -> None:
    ops = operations(directory, clock, provider.url, otp_code_ttl_s=120)
    assert (await ops["otp.send"](call())).outcome == "sent"
    (the_code,) = provider.codes_for("C1002")
    clock.advance(121)
    assert (await ops["verify.otp"](call(the_code, method="sent"))).outcome == "expired"


async def test_a_code_is_burnt_by_its_last_wrong_try(
    directory: SqliteDirectory, clock: FakeClock, provider: LoopbackProvider
) -> None:
    ops = operations(directory, clock, provider.url, otp_code_max_attempts=3)
    assert (await ops["otp.send"](call())).outcome == "sent"
    (the_code,) = provider.codes_for("C1002")
    wrong = "000000" if the_code != "000000" else "111111"
    for _ in range(3):
        assert (await ops["verify.otp"](call(wrong, method="sent"))).outcome == "wrong"
    assert (await ops["verify.otp"](call(the_code, method="sent"))).outcome == "expired"
    state = directory.lockout_state
    assert state is not None
    assert await state.failure_count("C1002", clock.now, directory.policy) == 3  # one lockout


async def test_a_new_code_replaces_the_old_one(
    directory: SqliteDirectory, clock: FakeClock, provider: LoopbackProvider
) -> None:
    ops = operations(directory, clock, provider.url)
    await ops["otp.send"](call())
    await ops["otp.send"](call())
    first, second = provider.codes_for("C1002")
    if first != second:
        assert (await ops["verify.otp"](call(first, method="sent"))).outcome == "wrong"
    assert (await ops["verify.otp"](call(second, method="sent"))).outcome == "verified"


async def test_the_resend_limit(
    directory: SqliteDirectory, clock: FakeClock, provider: LoopbackProvider
) -> None:
    ops = operations(directory, clock, provider.url, otp_max_sends=3, otp_send_window_s=900)
    for _ in range(3):
        assert (await ops["otp.send"](call())).outcome == "sent"
    refused = await ops["otp.send"](call())
    assert refused.outcome == "locked"
    assert refused.detail == "resend limit reached"
    assert len(provider.messages) == 3  # nothing was sent
    clock.advance(901)
    assert (await ops["otp.send"](call())).outcome == "sent"
    assert len(provider.messages) == 4


async def test_no_mobile_or_app_on_file_is_not_enrolled(
    directory: SqliteDirectory, clock: FakeClock, provider: LoopbackProvider
) -> None:
    provider.mode = "not_enrolled"
    ops = operations(directory, clock, provider.url)
    assert (await ops["otp.send"](call(channel="push"))).outcome == "not_enrolled"


@pytest.mark.parametrize(("mode", "reason"), [("error", "status"), ("garbage", "garbage")])
async def test_a_broken_provider_is_an_error(
    directory: SqliteDirectory,
    clock: FakeClock,
    provider: LoopbackProvider,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    reason: str,
) -> None:
    provider.mode = mode
    before = metric("ivr_otp_provider_errors_total", reason=reason)
    ops = operations(directory, clock, provider.url)
    with caplog.at_level(logging.WARNING):
        result = await ops["otp.send"](call())
    assert result.outcome == "error"
    assert result.detail == f"provider {reason}"
    assert metric("ivr_otp_provider_errors_total", reason=reason) == before + 1
    assert f"code provider failed ({reason})" in caplog.text
    assert (await ops["verify.otp"](call("123456", method="sent"))).outcome == "expired"


async def test_a_provider_that_is_down_or_slow_is_an_error(
    directory: SqliteDirectory, clock: FakeClock, provider: LoopbackProvider
) -> None:
    down = operations(directory, clock, f"http://127.0.0.1:{free_port()}")
    assert (await down["otp.send"](call())).detail == "provider unreachable"
    provider.mode, provider.delay_s = "slow", 3.0
    slow = operations(directory, clock, provider.url)
    before = metric("ivr_otp_provider_errors_total", reason="timeout")
    assert (await slow["otp.send"](call())).detail == "provider timeout"
    assert metric("ivr_otp_provider_errors_total", reason="timeout") == before + 1


async def test_a_provider_without_the_token_is_refused_as_an_error(
    provider: LoopbackProvider,
) -> None:
    client = HttpCodeProvider(provider.url, "wrong-token")
    with pytest.raises(ProviderError):
        await client.send(CodeMessage("C1", "sms", "123456", 300, "r1"))
    assert await client.ready()


def test_a_message_never_shows_its_code() -> None:
    message = CodeMessage("C1", "sms", "987654", 300, "r1")
    assert "987654" not in repr(message)
    assert "987654" not in str(message)
