"""Forms and action-URL queries are read and written by urllib.parse (no hand-written codec)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.adapters import wire
from ivr.adapters.wire import encode_query, parse_form, with_query

_RAW = st.text(st.sampled_from("ab=&+%2041;éZ%zz%C3%A9"), max_size=40)
_PAIRS = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=8)


@given(_RAW)
def test_parse_form_is_parse_qsl(text: str) -> None:
    assert parse_form(text) == parse_qsl(text, keep_blank_values=True)


@given(_PAIRS)
def test_parse_form_reads_urlencoded_pairs(pairs: list[tuple[str, str]]) -> None:
    assert parse_form(urlencode(pairs)) == parse_qsl(urlencode(pairs), keep_blank_values=True)


@given(_PAIRS)
def test_with_query_on_a_plain_url_appends(pairs: list[tuple[str, str]]) -> None:
    url = "https://ivr.example/twilio/gather"
    generic = urlunsplit(urlsplit(url)._replace(query=urlencode(pairs)))
    assert with_query(url, pairs) == generic


@given(_PAIRS)
def test_encode_query_is_urlencode(pairs: list[tuple[str, str]]) -> None:
    assert encode_query(pairs) == urlencode(pairs)


def test_the_codec_is_the_standard_librarys(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def parse(text: str, keep_blank_values: bool) -> list[tuple[str, str]]:
        seen.append("parse_qsl")
        return parse_qsl(text, keep_blank_values=keep_blank_values)

    def encode(pairs: list[tuple[str, str]]) -> str:
        seen.append("urlencode")
        return urlencode(pairs)

    monkeypatch.setattr(wire, "parse_qsl", parse)
    monkeypatch.setattr(wire, "urlencode", encode)
    assert parse_form("From=%2B44&Digits=") == [("From", "+44"), ("Digits", "")]
    assert encode_query([("step", "ask dob")]) == "step=ask+dob"
    assert (
        with_query("https://h/twilio/gather", [("step", "a")]) == "https://h/twilio/gather?step=a"
    )
    assert seen == ["parse_qsl", "urlencode", "urlencode"]
