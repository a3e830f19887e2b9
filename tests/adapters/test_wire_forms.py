"""The fast form parser and query merge agree with the generic ones."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hypothesis import given
from hypothesis import strategies as st

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
