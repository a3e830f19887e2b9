"""A language asked for (a callback's booked one) against those a flow has prompts in."""

from __future__ import annotations

import pytest

from ivr.engine.language import pick_language


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
