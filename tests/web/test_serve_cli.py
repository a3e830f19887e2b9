"""`ivr serve` refuses a session store it cannot use with one clear line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.cli.serve import main


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "a Redis URL starts with one of redis://, rediss://"),
        ("redis://127.0.0.1:1/0", "Redis did not answer PING"),
    ],
)
def test_an_unusable_redis_is_one_line_and_exit_2(
    url: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--redis", url, "--port", "0", "--journal", "none", "--db", str(tmp_path / "d.db")]
    args += ["--prompts-build", str(tmp_path / "prompts")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"ivr serve: session store: {message}" in err
    assert "Traceback" not in err
