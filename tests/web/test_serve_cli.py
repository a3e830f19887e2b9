"""`ivr serve` refuses a session store it cannot use with one clear line, not a traceback."""

from __future__ import annotations

import pytest

from ivr.cli.serve import main


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", "a Redis URL starts with redis:// or rediss://, not http:"),
        ("redis://127.0.0.1:1/0", "Redis did not answer PING"),
    ],
)
def test_an_unusable_redis_is_one_line_and_exit_2(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--redis", url, "--port", "0", "--journal", "none"]) == 2
    err = capsys.readouterr().err
    assert f"ivr serve: session store: {message}" in err
    assert "Traceback" not in err
