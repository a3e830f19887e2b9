"""Which of a flow's languages a requested one (a callback's booked language) is spoken in.

Tags are compared without regard to case; a tag the flow lacks falls back to another region of
the same language (`cy` or `cy-AR` to `cy-GB`), never to another language: that choice is the
caller's, and the engine says so when it cannot honour it.
"""

from __future__ import annotations

from collections.abc import Sequence


def pick_language(asked: str, available: Sequence[str]) -> str | None:
    """The available language matching `asked` best, or None when none speaks it."""
    wanted = asked.strip().lower()
    if not wanted:
        return None
    for language in available:
        if language.lower() == wanted:
            return language
    primary = wanted.split("-", 1)[0]
    for language in available:
        if language.lower().split("-", 1)[0] == primary:
            return language
    return None
