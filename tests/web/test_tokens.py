"""`POST /idv/tokens/verify`: valid once, and each refusal with its reason."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient

from ivr.tokens import ALGORITHM, TokenIssuer
from ivr.web.keys import RUNTIME
from tests.sessions.conftest import REDIS_URL, delete_keys
from tests.web.conftest import Caller, MakeClient


def issuer(client: TestClient[Any, Any]) -> TokenIssuer:
    tokens: TokenIssuer | None = client.app[RUNTIME].engine.tokens
    assert tokens is not None
    return tokens


async def check(client: TestClient[Any, Any], token: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/idv/tokens/verify", json={"token": token})
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_token_from_a_verified_call_is_valid_once(client: TestClient[Any, Any]) -> None:
    caller = Caller(client)
    await caller.start()
    done = await caller.press("01021980#")
    token = done["actions"][-1]["handoff"]["idv_token"]
    status, body = await check(client, token)
    assert status == 200
    assert body["valid"] is True
    assert body["claims"]["call_id"] == caller.call_id
    assert body["claims"]["idv_status"] == "identified_and_verified"
    assert await check(client, token) == (409, {"valid": False, "reason": "replayed"})


async def test_expired_token_is_refused(client: TestClient[Any, Any]) -> None:
    key = issuer(client).key
    old = TokenIssuer(key, ttl_s=60, clock=lambda: time.time() - 120)
    token = old.issue("c1", "C1001", "identified_and_verified")
    assert await check(client, token) == (401, {"valid": False, "reason": "expired"})


async def test_tampered_token_is_refused(client: TestClient[Any, Any]) -> None:
    token = issuer(client).issue("c1", "C1001", "identified_only")
    header, payload, sig = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["idv_status"] = "identified_and_verified"
    forged = jwt.encode(
        claims, "not-the-key-but-long-enough-for-hs256-use", algorithm=ALGORITHM
    ).split(".")[1]
    assert await check(client, f"{header}.{forged}.{sig}") == (
        401,
        {"valid": False, "reason": "tampered"},
    )


async def test_wrong_audience_is_refused(client: TestClient[Any, Any]) -> None:
    token = issuer(client).issue("c1", "C1001", "identified_and_verified")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["aud"] = "billing"
    other = jwt.encode(claims, issuer(client).key, algorithm=ALGORITHM)
    assert await check(client, other) == (401, {"valid": False, "reason": "wrong_audience"})


async def test_unsigned_or_garbage_tokens_are_invalid(client: TestClient[Any, Any]) -> None:
    token = issuer(client).issue("c1", "C1001", "identified_and_verified")
    claims = jwt.decode(token, options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert await check(client, unsigned) == (401, {"valid": False, "reason": "invalid"})
    assert await check(client, "abc.def") == (401, {"valid": False, "reason": "invalid"})


@pytest.mark.parametrize("body", [b"", b"nope", b"[]", b'{"token": 3}', b'{"token": ""}'])
async def test_malformed_requests_are_400(client: TestClient[Any, Any], body: bytes) -> None:
    response = await client.post("/idv/tokens/verify", data=body)
    assert response.status == 400
    assert await response.json() == {"valid": False, "reason": "malformed_request"}


async def test_replay_is_refused_across_workers_with_redis(make_client: MakeClient) -> None:
    prefix = f"ivr-test-{uuid.uuid4().hex[:12]}:"
    one = await make_client(redis_url=REDIS_URL, redis_prefix=prefix)
    two = await make_client(redis_url=REDIS_URL, redis_prefix=prefix)
    token = issuer(one).issue("c1", "C1001", "identified_and_verified")
    assert (await check(one, token))[0] == 200
    assert await check(two, token) == (409, {"valid": False, "reason": "replayed"})
    await one.close()
    await two.close()
    await delete_keys(prefix)


async def test_a_token_used_before_a_restart_of_the_memory_store_is_refused(
    make_client: MakeClient,
) -> None:
    """In memory the claims die with the process: a token issued before this server started
    cannot be known unused, so it is refused; one issued after the start is accepted once."""
    before = await make_client()
    token = issuer(before).issue("c1", "C1001", "identified_and_verified")
    assert (await check(before, token))[0] == 200
    await before.close()
    await asyncio.sleep(1.1)  # the next whole second: `iat` is in whole seconds

    after = await make_client()
    assert await check(after, token) == (409, {"valid": False, "reason": "replayed"})
    fresh = issuer(after).issue("c2", "C1001", "identified_and_verified")
    assert (await check(after, fresh))[0] == 200
    assert await check(after, fresh) == (409, {"valid": False, "reason": "replayed"})
