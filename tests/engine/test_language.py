"""A language asked for (a callback's booked one) against those a flow has prompts in."""

from __future__ import annotations

import logging

import pytest

from ivr.engine.language import pick_language
from ivr.engine.operate import switch_language
from ivr.engine.state import CallState
from ivr.engine.turn import Turn


@pytest.mark.parametrize(
    ("asked", "chosen"),
    [
        ("cy-GB", "cy-GB"),
        ("CY-gb", "cy-GB"),  # tags are not case-sensitive
        ("cy", "cy-GB"),  # the same language, another or no region
        ("en-US", "en-GB"),
        ("fr-FR", None),  # never another language: the engine keeps the line's and warns
        ("", None),
    ],
)
def test_the_closest_language_the_flow_speaks(asked: str, chosen: str | None) -> None:
    assert pick_language(asked, ["en-GB", "cy-GB"]) == chosen


def _turn(language: str) -> Turn:
    state = CallState("c1", "callback", "1", "line", language, None, None, "unknown")
    return Turn(state)


def test_a_language_the_flow_speaks_is_spoken_from_then_on() -> None:
    turn = _turn("en-GB")
    assert switch_language(turn, "cy", ["en-GB", "cy-GB"]) == {
        "language_asked": "cy",
        "language": "cy-GB",
    }
    assert turn.state.language == "cy-GB"


def test_a_language_without_prompts_keeps_the_calls_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A callback booked before a reload took its language away, or by a caller on a line in
    a language the callback flow lacks: still called, in the line's language, and shown."""
    caplog.set_level(logging.WARNING)
    turn = _turn("en-GB")
    assert switch_language(turn, "fr-FR", ["en-GB", "cy-GB"]) == {
        "language_asked": "fr-FR",
        "language": "en-GB",
        "language_fallback": "yes",
    }
    assert turn.state.language == "en-GB"
    warned = [r.getMessage() for r in caplog.records]
    assert any("'fr-FR' asked for" in m and "speaking en-GB" in m for m in warned)
