"""Our signature code against the vendors' own implementations and published vectors."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jambonz_sdk._signature import verify_signature as sdk_verify  # type: ignore[import-untyped]
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from ivr.adapters.signatures import (
    jambonz_header,
    jambonz_signature,
    twilio_signature,
    url_port_variants,
    verify_jambonz,
    verify_twilio,
)

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]


def test_twilio_published_vector() -> None:
    assert twilio_signature("12345", VECTOR_URL, VECTOR_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert verify_twilio("12345", VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_twilio_repeated_names_vector() -> None:
    params = [("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]
    params += [("Sid", "CA123"), ("SidAccount", "AC123")]
    assert twilio_signature("12345", VECTOR_URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    "url",
    [
        VECTOR_URL,
        "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
        "http://mycompany.com:1234/myapp.php?foo=1&bar=2",
        "https://mycompany.com:443/myapp.php?foo=1&bar=2",
        "http://mycompany.com/myapp.php?foo=1&bar=2",
        "https://Ivr.Example.com/twilio/gather?step=id&attempt=2&max=8",
    ],
)
def test_twilio_signatures_match_the_official_validator_both_ways(url: str) -> None:
    official = RequestValidator("secret-token")
    for signed_url in url_port_variants(url):
        signature = official.compute_signature(signed_url, dict(VECTOR_PARAMS))
        assert verify_twilio("secret-token", url, VECTOR_PARAMS, signature)
    ours = twilio_signature("secret-token", url, VECTOR_PARAMS)
    assert official.validate(url, dict(VECTOR_PARAMS), ours)


def test_twilio_port_variants_follow_twilio() -> None:
    assert url_port_variants("https://a.example/x?y=1") == (
        "https://a.example/x?y=1",
        "https://a.example:443/x?y=1",
    )
    assert url_port_variants("http://a.example:8080/x") == (
        "http://a.example/x",
        "http://a.example:8080/x",
    )


@pytest.mark.parametrize(
    ("url", "params", "signature"),
    [
        (VECTOR_URL, [*VECTOR_PARAMS[:2], ("Digits", "1235"), *VECTOR_PARAMS[3:]], None),
        (VECTOR_URL + "&x=1", VECTOR_PARAMS, None),
        ("https://mycompany.com/other.php?foo=1&bar=2", VECTOR_PARAMS, None),
        (VECTOR_URL, VECTOR_PARAMS, ""),
        (VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
    ],
)
def test_twilio_tampered_requests_fail(
    url: str, params: list[tuple[str, str]], signature: str | None
) -> None:
    given = "RSOYDt4T1cUTdK1PDd93/VVr8B8=" if signature is None else signature
    assert not verify_twilio("12345", url, params, given)
    assert not RequestValidator("12345").validate(url, dict(params), given)


def test_twilio_without_token_refuses_everything() -> None:
    signature = twilio_signature("", VECTOR_URL, VECTOR_PARAMS)
    assert not verify_twilio("", VECTOR_URL, VECTOR_PARAMS, signature)


def test_jambonz_vector() -> None:
    body = b'{"call_sid":"abc","digits":"1234"}'
    expected = "3971e152a363f15c97184d5571520fc76f2e5226599d223735733416ccba496c"
    assert jambonz_signature("wh_secret", 1700000000, body) == expected
    header = f"t=1700000000,v1={expected}"
    assert verify_jambonz(["wh_secret"], header, body, clock=lambda: 1700000100)


def test_jambonz_matches_the_sdk_verifier() -> None:
    body = '{"call_sid":"abc","from":"Zoë"}'.encode()  # non-ASCII: raw bytes are signed
    now = int(time.time())
    header = jambonz_header("s3cret", now, body)
    assert sdk_verify(body, header, "s3cret")
    assert verify_jambonz(["s3cret"], header, body)


@pytest.mark.parametrize(
    ("secrets", "header_secret", "age", "body"),
    [
        (["s3cret"], "other", 0, b"{}"),  # wrong secret
        (["s3cret"], "s3cret", 301, b"{}"),  # stale
        (["s3cret"], "s3cret", -301, b"{}"),  # from the future
        ([], "s3cret", 0, b"{}"),  # no secret configured
    ],
)
def test_jambonz_refusals(secrets: list[str], header_secret: str, age: int, body: bytes) -> None:
    now = 1_700_000_000
    header = jambonz_header(header_secret, now - age, body)
    assert not verify_jambonz(secrets, header, body, clock=lambda: now)


def test_jambonz_tampered_body_and_malformed_headers() -> None:
    now = 1_700_000_000
    header = jambonz_header("s3cret", now, b'{"digits":"1234"}')
    assert not verify_jambonz(["s3cret"], header, b'{"digits":"1235"}', clock=lambda: now)
    for bad in (None, "", "v1=abc", "t=abc,v1=abc", f"t={now}", f"t={now},t={now},v1=x"):
        assert not verify_jambonz(["s3cret"], bad, b"{}", clock=lambda: now)


def test_jambonz_rotation_accepts_either_secret() -> None:
    now = 1_700_000_000
    for secret in ("old", "new"):
        header = jambonz_header(secret, now, b"{}")
        assert verify_jambonz(["new", "old"], header, b"{}", clock=lambda: now)


_PAIRS = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "AB", "Digits", ""]), st.sampled_from(["1", "2", "", "x"])
    ),
    max_size=10,
)


@given(_PAIRS)
def test_twilio_params_text_dedupes_repeated_pairs(params: list[tuple[str, str]]) -> None:
    """Each distinct pair once, in order: what Twilio's own validator signs."""
    official = RequestValidator("t").compute_signature(VECTOR_URL, MultiDict(params))
    signature = twilio_signature("t", VECTOR_URL, params)
    assert signature == official
    assert verify_twilio("t", VECTOR_URL, params, signature)
