"""Forms and action URLs agree with the standard library: parse_form is parse_qsl (hand-written
for speed, see its docstring), the query merge is urlencode."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hypothesis import given
from hypothesis import strategies as st

from ivr.adapters.wire import parse_form, with_query

_PAIRS = st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=8)


@given(_PAIRS)
def test_with_query_on_a_plain_url_appends(pairs: list[tuple[str, str]]) -> None:
    url = "https://ivr.example/twilio/gather"
    generic = urlunsplit(urlsplit(url)._replace(query=urlencode(pairs)))
    assert with_query(url, pairs) == generic


@given(_PAIRS)
def test_with_query_keeps_an_existing_query_and_replaces_names(
    pairs: list[tuple[str, str]],
) -> None:
    url = "https://ivr.example/x?keep=1&step=old"
    merged = parse_qsl(urlsplit(with_query(url, pairs)).query, keep_blank_values=True)
    names = {name for name, _ in pairs}
    kept = [(k, v) for k, v in [("keep", "1"), ("step", "old")] if k not in names]
    assert merged == kept + pairs


_RAW = st.text(st.sampled_from("ab=&+%2041;éZ%zz%C3%A9"), max_size=40)


@given(_RAW)
def test_parse_form_is_parse_qsl(text: str) -> None:
    assert parse_form(text) == parse_qsl(text, keep_blank_values=True)


@given(_PAIRS)
def test_parse_form_reads_urlencoded_pairs(pairs: list[tuple[str, str]]) -> None:
    assert parse_form(urlencode(pairs)) == parse_qsl(urlencode(pairs), keep_blank_values=True)
