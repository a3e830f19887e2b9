"""HttpDirectory against a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator

import pytest

from ivr.directory.http_directory import HttpDirectory
from ivr.directory.port import Customer, DirectoryError, LookupStatus, VerifyStatus

from .remote import TOKEN, RemoteDirectory

Remote = tuple[RemoteDirectory, str]


@pytest.fixture
async def client(remote: Remote) -> AsyncIterator[HttpDirectory]:
    directory = await HttpDirectory.open(remote[1], TOKEN, timeout_s=0.3)
    yield directory
    await directory.close()


async def test_lookups(client: HttpDirectory, remote: Remote) -> None:
    found = await client.lookup_by_phone("+447700900123")
    assert found.status is LookupStatus.FOUND
    assert found.customer == Customer("C1001", "Alice Example")
    assert (await client.lookup_by_phone("07700 900789")).status is LookupStatus.MANY
    assert (await client.lookup_by_phone("+447700900000")).status is LookupStatus.NOT_FOUND
    by_account = await client.lookup_by_account("12345678")
    assert by_account.customer == Customer("C1001", "Alice Example")
    assert (await client.lookup_by_account("999")).status is LookupStatus.NOT_FOUND
    assert ("GET", "/customers/by-phone/+447700900123") in remote[0].requests


async def test_withheld_numbers_are_never_sent(client: HttpDirectory, remote: Remote) -> None:
    for raw in ("anonymous", "client:bob", "sip:bob@example.com", ""):
        assert (await client.lookup_by_phone(raw)).status is LookupStatus.NOT_FOUND
    assert (await client.lookup_by_account("  ")).status is LookupStatus.NOT_FOUND
    assert remote[0].requests == []


async def test_verify(client: HttpDirectory) -> None:
    assert await client.verify_answer("C1001", "pin", "4321") is VerifyStatus.VERIFIED
    assert await client.verify_answer("C1001", "pin", "1111") is VerifyStatus.WRONG
    assert await client.verify_answer("C1005", "pin", "1111") is VerifyStatus.NOT_ENROLLED


async def test_hung_server_hits_the_deadline_quickly(client: HttpDirectory, remote: Remote) -> None:
    remote[0].mode = "hang"
    started = time.monotonic()
    with pytest.raises(DirectoryError, match="timed out after 0.3 s"):
        await client.verify_answer("C1001", "pin", "4321")
    assert time.monotonic() - started < 1.5


async def test_default_deadline_is_two_seconds(remote: Remote) -> None:
    directory = await HttpDirectory.open(remote[1], TOKEN)
    try:
        assert directory.timeout_s == 2.0
    finally:
        await directory.close()


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", "answered HTTP 500"),
        ("malformed", "malformed JSON"),
        ("no_list", "no 'customers' list"),
    ],
)
async def test_bad_replies_are_directory_errors(
    client: HttpDirectory, remote: Remote, mode: str, message: str
) -> None:
    remote[0].mode = mode
    with pytest.raises(DirectoryError, match=message):
        await client.lookup_by_phone("+447700900123")


async def test_unknown_verify_result_is_a_directory_error(
    client: HttpDirectory, remote: Remote
) -> None:
    remote[0].scripted_results = ["maybe"]
    with pytest.raises(DirectoryError, match="unknown result"):
        await client.verify_answer("C1001", "pin", "4321")


async def test_malformed_customer_is_a_directory_error(
    client: HttpDirectory, remote: Remote
) -> None:
    remote[0].by_phone["+447700900123"] = [{"customer_id": 1001}]
    with pytest.raises(DirectoryError, match="malformed customer"):
        await client.lookup_by_phone("+447700900123")


async def test_wrong_token_is_a_directory_error(remote: Remote) -> None:
    directory = await HttpDirectory.open(remote[1], "wrong-token")
    try:
        with pytest.raises(DirectoryError, match="HTTP 401"):
            await directory.lookup_by_phone("+447700900123")
    finally:
        await directory.close()


async def test_connection_refused_is_a_directory_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    directory = await HttpDirectory.open(f"http://127.0.0.1:{port}", TOKEN)
    try:
        with pytest.raises(DirectoryError, match="failed"):
            await directory.lookup_by_account("12345678")
    finally:
        await directory.close()


async def test_one_session_serves_every_call(client: HttpDirectory, remote: Remote) -> None:
    session = client._session
    for _ in range(3):
        await client.lookup_by_account("12345678")
    assert client._session is session
    assert not session.closed
