"""bench.jambonz_ws end to end at a tiny size: a real server, both transports, every figure."""

from __future__ import annotations

import pytest

from bench import jambonz_ws


def test_the_benchmark_prints_both_transports(capsys: pytest.CaptureFixture[str]) -> None:
    assert jambonz_ws.main(["--calls", "4", "--concurrency", "2", "--rounds", "1"]) == 0
    printed = capsys.readouterr().out
    assert "server CPU per event, jambonz webhooks:" in printed
    assert "server CPU per event, jambonz WebSocket:" in printed
    assert "WebSocket / webhooks CPU per event:" in printed
