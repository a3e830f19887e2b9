"""The context an answered callback starts with, from the answer URL or a JSON call.started."""

from __future__ import annotations

import pytest

from ivr.adapters.base import BadRequest
from ivr.adapters.outbound import outbound_context

SIG = "k1~" + "a" * 64


def test_callback_context_from_the_query() -> None:
    query = {"ivr_callback": "cb_0123abcd", "ivr_sig": SIG, "ivr_flow": "callback"}
    assert outbound_context(query, "machine_start") == {
        "direction": "outbound",
        "flow": "callback",
        "callback_id": "cb_0123abcd",
        "callback_sig": "k1:" + "a" * 64,
        "answered_by": "machine_start",
    }
    assert outbound_context({}) == {}  # an ordinary inbound call


@pytest.mark.parametrize(
    "query",
    [
        {"ivr_callback": "cb_0123", "ivr_sig": "nope"},
        {"ivr_callback": "cb_0123"},
        {"ivr_callback": "robert'); drop table", "ivr_sig": SIG},
        {"ivr_callback": "cb_0123", "ivr_sig": SIG, "ivr_flow": "../../etc"},
    ],
)
def test_malformed_context_is_refused(query: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        outbound_context(query)


def test_odd_answered_by_is_dropped() -> None:
    query = {"ivr_callback": "cb_0123", "ivr_sig": SIG}
    assert "answered_by" not in outbound_context(query, "<script>")
