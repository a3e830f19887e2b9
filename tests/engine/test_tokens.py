"""Visual-IVR tokens: signed as `jwt.encode` signs them, checked by `jwt.decode` (PyJWT's
public API)."""

from __future__ import annotations

import uuid

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.tokens import ALGORITHM, TokenError, TokenIssuer

KEY = "engine-token-test-key-of-sufficient-length"
PEM_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9
q9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==
-----END PUBLIC KEY-----
"""

texts = st.text(max_size=40)
statuses = st.sampled_from(["identified_and_verified", "identified_only", "not_identified"])


@settings(max_examples=200, deadline=None)
@given(call_id=texts, customer_id=st.none() | texts, status=statuses, now=st.floats(0, 4e9))
def test_a_token_is_byte_for_byte_what_jwt_encode_writes(
    call_id: str, customer_id: str | None, status: str, now: float
) -> None:
    issuer = TokenIssuer(KEY, clock=lambda: now)
    token = issuer.issue(call_id, customer_id, status)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert token == jwt.encode(claims, KEY, algorithm=ALGORITHM)
    assert claims["call_id"] == call_id
    assert claims["sub"] == (customer_id or "")
    assert claims["exp"] == int(now) + issuer.ttl_s


def test_a_token_verifies_and_each_has_its_own_jti() -> None:
    issuer = TokenIssuer(KEY)
    first = issuer.verify(issuer.issue("c1", "C1001", "identified_and_verified"))
    second = issuer.verify(issuer.issue("c1", "C1001", "identified_and_verified"))
    assert first["idv_status"] == "identified_and_verified"
    assert first["jti"] != second["jti"]


def test_a_replaced_key_signs_the_next_token() -> None:
    issuer = TokenIssuer(KEY)
    issuer.issue("c1", None, "not_identified")
    issuer.key = KEY + "-rotated"
    token = issuer.issue("c2", None, "not_identified")
    assert issuer.verify(token)["call_id"] == "c2"
    with pytest.raises(TokenError, match="bad signature"):
        TokenIssuer(KEY).verify(token)


def test_an_asymmetric_key_is_refused_as_pyjwt_refuses_it() -> None:
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"a": 1}, PEM_PUBLIC_KEY, algorithm=ALGORITHM)
    with pytest.raises(jwt.InvalidKeyError):
        TokenIssuer(PEM_PUBLIC_KEY).issue("c1", None, "not_identified")


def test_an_asymmetric_key_is_refused_when_the_issuer_is_made_or_rotated() -> None:
    with pytest.raises(jwt.InvalidKeyError):
        TokenIssuer(PEM_PUBLIC_KEY)
    issuer = TokenIssuer(KEY)
    issuer.key = PEM_PUBLIC_KEY
    with pytest.raises(jwt.InvalidKeyError):
        issuer.issue("c1", None, "not_identified")
    issuer.key = KEY + "-rotated"
    assert (
        jwt.decode(
            issuer.issue("c1", None, "not_identified"),
            KEY + "-rotated",
            algorithms=[ALGORITHM],
            audience="visual-ivr",
        )["call_id"]
        == "c1"
    )


def test_a_short_key_is_warned_about() -> None:
    with pytest.warns(jwt.InsecureKeyLengthWarning):
        TokenIssuer("short").issue("c1", None, "not_identified")


def test_the_key_is_not_in_the_issuers_repr() -> None:
    issuer = TokenIssuer(KEY)
    issuer.issue("c1", None, "not_identified")
    assert KEY not in repr(issuer)


def test_a_token_id_is_a_random_uuid4() -> None:
    """What `uuid.uuid4().hex` gave: 32 hex digits, version 4, the RFC 4122 variant."""
    issuer = TokenIssuer(KEY)
    seen = set()
    for _ in range(200):
        jti = issuer.verify(issuer.issue("c", "C1", "identified_only"))["jti"]
        parsed = uuid.UUID(hex=jti)
        assert parsed.hex == jti
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        seen.add(jti)
    assert len(seen) == 200
