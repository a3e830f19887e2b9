"""One source of truth for the JSON protocol: the pydantic models parse the events and give the
OpenAPI document; the committed copy is what they give; answers match it; and schemathesis,
driving a live `ivr serve` through `/openapi.json` with every request signed, finds nothing
that contradicts the document."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given, settings

from ivr.adapters.json_webhook import signature
from ivr.web.openapi import document, main
from tests.web.conftest import ALICE, CARDS_LINE, ROOT, SECRET, Caller

COMMITTED = ROOT / "docs" / "openapi.json"


def test_the_committed_document_is_what_the_models_give(tmp_path: Path) -> None:
    assert main(["--check", str(COMMITTED)]) == 0
    stale = tmp_path / "openapi.json"
    stale.write_text(COMMITTED.read_text().replace('"maxLength": 64', '"maxLength": 65'))
    assert main(["--check", str(stale)]) == 1
    main([str(stale)])  # regenerated: current again
    assert main(["--check", str(stale)]) == 0


def test_the_known_disagreements_are_gone() -> None:
    """The event `hangup` needs its ids like every event (it was shadowed by the action of the
    same name); an empty transfer result or token is refused by both the server and the
    document."""
    schemas = document()["components"]["schemas"]
    assert set(schemas["HangupEvent"]["required"]) == {"type", "event_id", "call_id"}
    assert schemas["HangupAction"]["required"] == ["type", "reason"]
    assert schemas["TransferResultEvent"]["properties"]["result"]["minLength"] == 1
    assert schemas["TokenRequest"]["properties"]["token"]["minLength"] == 1


def _validator(name: str) -> jsonschema.protocols.Validator:
    """A JSON Schema validator (not pydantic) for one component of the served document."""
    spec = document()
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


async def test_every_answer_of_a_call_matches_the_document(client: TestClient[Any, Any]) -> None:
    answers = _validator("Answer")
    events = _validator("Event")
    caller = Caller(client)
    bodies = [
        caller.body("call.started", ani=None, dnis=CARDS_LINE),
        caller.body("digits", digits="12345678"),
        caller.body("no_input"),
        caller.body("digits", digits="01011999#"),
        caller.body("digits", digits="01021980#"),
        caller.body("hangup"),
    ]
    lost = Caller(client)
    bodies.append(lost.body("transfer_result", result="answered"))  # an unknown call
    for body in bodies:
        events.validate(json.loads(body))
        status, answer = await caller.post_raw(body)
        assert status == 200
        answers.validate(answer)
    refused = _validator("Error")
    status, error = await caller.post_raw(caller.body("transfer_result", result=""))
    assert status == 400
    refused.validate(error)
    ani_call = Caller(client)
    answers.validate(await ani_call.start(ani=ALICE))


# -- schemathesis against a live server ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(tmp_path: Path, demo_db: str) -> Iterator[str]:
    """`ivr serve` in its own process on a free loopback port."""
    port = _free_port()
    env = {**os.environ, "IVR_WEBHOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "ivr.cli.serve", "--port", str(port), "--db", demo_db]
    command += ["--journal", "none", "--log-level", "warning", "--drain-limit", "1"]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
    assert "Traceback" not in log.read_text()


class Signed(requests.auth.AuthBase):
    """The hook that signs each request schemathesis sends, over the exact body bytes."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else bytes(body)
        request.headers["X-IVR-Signature"] = signature(SECRET, raw, int(time.time()))
        return request


EXAMPLES = 150  # per operation: a few hundred requests in all, well under a minute


def test_schemathesis_finds_no_response_that_contradicts_the_document(live_server: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {"/json/events", "/idv/tokens/verify"}
    sent: list[int] = []
    with requests.Session() as session:
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def conforms(case: Any) -> None:
                response = case.call_and_validate(
                    base_url=live_server, session=session, auth=Signed()
                )
                sent.append(response.status_code)

            conforms()
    assert len(sent) >= 100
    assert 200 in sent  # signed, valid events were applied, not only refused
