"""bench/pipeline.py: the core without HTTP really takes calls to the end (the answer it times
is the verified transfer), and prints its two figures."""

from __future__ import annotations

import pytest

from bench import pipeline


def test_the_benchmark_plays_whole_calls_and_prints_both_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert pipeline.main(["--calls", "3", "--rounds", "1"]) == 0
    printed = capsys.readouterr().out
    assert "core (parse, pipeline, engine, render, store)" in printed
    assert "of which the Twilio adapter's parse" in printed
    assert printed.count("µs CPU/event") == 2
