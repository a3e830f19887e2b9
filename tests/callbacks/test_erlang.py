"""Erlang C against values computed by hand from the textbook formula.

Reference: D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, "Fundamentals of Queueing
Theory", 4th ed., Wiley 2008, section 2.3 (M/M/c): with r = lambda/mu erlangs and c servers,
C(c, r) = (r^c / c!) (c / (c - r)) / (sum_{n<c} r^n / n! + (r^c / c!) (c / (c - r))) and
Wq = C(c, r) / (c mu - lambda).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from ivr.callbacks.erlang import erlang_b, erlang_c, erlang_c_wait


def textbook_c(agents: int, load: Fraction) -> Fraction:
    top = load**agents / math.factorial(agents) * Fraction(agents) / (agents - load)
    return top / (sum(load**n / math.factorial(n) for n in range(agents)) + top)


def test_hand_computed_values() -> None:
    # c = 2, r = 1: top = (1/2)(2/1) = 1, sum = 1 + 1 = 2, C = 1/3; Wq = (1/3) h / (2 - 1).
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c_wait(2, 1.0, 300.0) == pytest.approx(100.0)
    # c = 3, r = 2: top = (8/6)(3/1) = 4, sum = 1 + 2 + 2 = 5, C = 4/9; Wq = (4/9) h / 1.
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c_wait(3, 2.0, 180.0) == pytest.approx(80.0)
    # one server is M/M/1: C = rho.
    assert erlang_c(1, 0.7) == pytest.approx(0.7)
    # Erlang B, c = 2, r = 1: (1/2) / (1 + 1 + 1/2) = 1/5.
    assert erlang_b(2, 1.0) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("agents", "load"),
    [
        (5, Fraction(4)),
        (10, Fraction(8)),
        (20, Fraction(14)),
        (20, Fraction(18)),
        (50, Fraction(45)),
    ],
)
def test_recursion_matches_the_textbook_formula(agents: int, load: Fraction) -> None:
    assert erlang_c(agents, float(load)) == pytest.approx(
        float(textbook_c(agents, load)), rel=1e-12
    )


def test_unstable_or_unstaffed() -> None:
    assert erlang_c(4, 4.0) == 1.0
    assert erlang_c_wait(4, 5.0, 300.0) is None
    assert erlang_c_wait(0, 0.0, 300.0) is None
    assert erlang_c(400, 360.0) < 1.0  # large N: no overflow
    with pytest.raises(ValueError):
        erlang_b(-1, 1.0)
