"""bench.journal_overhead's method: paired runs in shuffled order, median cost and its spread."""

from __future__ import annotations

import random

from bench.journal_overhead import OFF, Pairs, Run, schedule, spread


def test_every_round_pairs_each_mode_with_off_in_a_varying_order() -> None:
    modes = ["hub only", "sqlite", "postgresql"]
    plan = schedule(modes, 40, random.Random(5))
    assert len(plan) == 40
    for pairs in plan:
        assert sorted(a if b == OFF else b for a, b in pairs) == sorted(modes)
        assert all(OFF in pair and pair[0] != pair[1] for pair in pairs)
    orders = {tuple(a if b == OFF else b for a, b in pairs) for pairs in plan}
    assert len(orders) > 1  # the modes' order is shuffled from round to round
    assert {pair[0] == OFF for pairs in plan for pair in pairs} == {True, False}


def test_costs_compare_each_run_with_its_own_off() -> None:
    pairs = Pairs(
        on=[Run(1.25, 1.1), Run(2.5, 1.2), Run(1.0, 1.0)],
        off=[Run(1.0, 1.0), Run(2.0, 1.0), Run(1.0, 1.0)],
    )
    assert [round(c, 6) for c in pairs.costs()] == [20.0, 20.0, 0.0]
    assert [round(c, 6) for c in pairs.cpu_costs()] == [10.0, 20.0, 0.0]


def test_spread_is_median_quartiles_and_range() -> None:
    assert spread([5.0, 1.0, 3.0, 2.0, 4.0]) == (3.0, 2.0, 4.0, 1.0, 5.0)
    assert spread([7.0]) == (7.0, 7.0, 7.0, 7.0, 7.0)
