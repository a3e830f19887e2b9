"""Rate limits through the real server (issue 12, item 6): one calling number making 1,200
account checks over the signed JSON webhook is limited after the threshold, and from then on
the account step answers the same whatever the account, so it no longer tells which accounts
exist; /metrics counts it by limit. Two `ivr serve` workers sharing Redis share the limits."""

from __future__ import annotations

import itertools
import shutil
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client import REGISTRY

from ivr.bootstrap import Project
from tests.conftest import REDIS_URL
from tests.web.conftest import CARDS_LINE, ROOT, Caller, MakeClient
from tests.web.servers import HttpCaller, Server

ATTACKER = "+447700900555"
EXISTING = ["12345678", "23456789", "34567890", "45678901"]
MISSING = ["99999999", "88888888", "77777777", "10000001"]


def config_with_limits(folder: Path, **limits: float) -> Path:
    """The repository's config with its limits changed (no delay: the test makes 1,200
    attempts and the delay has a test of its own)."""
    target = folder / "config"
    shutil.copytree(ROOT / "config", target, dirs_exist_ok=True)
    path = target / "service-lines.yaml"
    data = yaml.safe_load(path.read_text())
    data["limits"].update(limits)
    path.write_text(yaml.safe_dump(data))
    return target


def what_it_tells(doc: dict[str, Any]) -> str:
    """What the answer to an account number tells the caller."""
    actions = doc["actions"]
    collect = [a for a in actions if a["type"] == "collect"]
    if collect:
        return "exists" if collect[0]["step"] == "date_of_birth" else "does not exist"
    assert [a for a in actions if a["type"] == "transfer"], doc
    return "routed"


def without_ids(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if key != "call_id"}


def limited(limit: str) -> float:
    labels = {"operation": "directory.lookup_by_account", "limit": limit}
    return REGISTRY.get_sample_value("ivr_limited_total", labels) or 0.0


async def test_one_number_making_1200_account_checks_learns_nothing_after_the_limit(
    make_client: MakeClient, tmp_path: Path
) -> None:
    config = config_with_limits(tmp_path, delay_s=0, max_delay_s=0)
    client = await make_client(project=Project(ROOT / "flows", config, ROOT / "prompts"))
    before = limited("identify_per_number")
    candidates = itertools.cycle(itertools.chain(*zip(EXISTING, MISSING, strict=True)))
    told: list[tuple[str, str]] = []  # (account, what the answer told)
    limited_answers: dict[str, dict[str, Any]] = {}
    while len(told) < 1200:
        caller = Caller(client)
        await caller.start(ani=ATTACKER, dnis=CARDS_LINE)
        for _ in range(3):
            account = next(candidates)
            doc = await caller.press(f"{account}#")
            told.append((account, what_it_tells(doc)))
            if what_it_tells(doc) == "routed":
                limited_answers[account] = without_ids(doc)
            if doc["call"]["ended"] or what_it_tells(doc) == "exists" or len(told) == 1200:
                break
    await client.close()
    # below the threshold (12 failures: only missing accounts count) the step answers
    # truthfully ...
    first = next(n for n, (_, what) in enumerate(told) if what == "routed")
    truthful = told[:first]
    assert [what for account, what in truthful if account in MISSING].count("does not exist") == 12
    assert {what for account, what in truthful if account in EXISTING} == {"exists"}
    assert {what for account, what in truthful if account in MISSING} == {"does not exist"}
    # ... then, for every check left, the same answer whatever the account
    assert {what for _, what in told[first:]} == {"routed"}
    answers = list(limited_answers.values())
    assert len(limited_answers) == len(EXISTING + MISSING)
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["call"]["idv_status"] == "not_identified"  # to an agent, like a failure
    assert limited("identify_per_number") - before == 1200 - first


async def test_metrics_show_the_limit(make_client: MakeClient, tmp_path: Path) -> None:
    config = config_with_limits(tmp_path, identify_per_number_per_hour=1, delay_s=0)
    client = await make_client(project=Project(ROOT / "flows", config, ROOT / "prompts"))
    caller = Caller(client)
    await caller.start(ani=ATTACKER, dnis=CARDS_LINE)
    await caller.press("99999999#")
    await caller.press("99999998#")
    text = await (await client.get("/metrics")).text()
    await client.close()
    assert (
        'ivr_limited_total{limit="identify_per_number",operation="directory.lookup_by_account"}'
        in text
    )


async def test_two_workers_share_the_limits_through_redis(
    tmp_path: Path,
    demo_db: str,
    servers: list[Server],
    session: aiohttp.ClientSession,
    redis_prefix: str,
) -> None:
    config = config_with_limits(tmp_path, identify_per_number_per_hour=6, delay_s=0)
    args = [
        *("--db", demo_db, "--journal", "none", "--redis", REDIS_URL),
        *("--redis-prefix", redis_prefix, "--config", str(config)),
        *("--flows", str(ROOT / "flows"), "--prompts", str(ROOT / "prompts")),
    ]
    servers += [Server(args, tmp_path), Server(args, tmp_path)]
    for server in servers:
        await server.ready()
    told = []
    for n in range(8):  # alternate workers: 3 on each, then limited on both
        server = servers[n % 2]
        caller = HttpCaller(session, f"shared-{uuid.uuid4().hex}")
        await caller.send(server, "call.started", ani=ATTACKER, dnis=CARDS_LINE)
        doc = await caller.send(server, "digits", digits="99999999#")
        told.append(what_it_tells(doc))
    assert told == ["does not exist"] * 6 + ["routed"] * 2


async def test_two_calls_by_a_stranger_do_not_lock_the_owner_out(make_client: MakeClient) -> None:
    """The server opens its directory with the lockout as a backstop under the fair policy."""
    client = await make_client()
    for _ in range(2):
        stranger = Caller(client)
        await stranger.start(ani=ATTACKER, dnis=CARDS_LINE)
        await stranger.press("12345678#")
        for _ in range(3):
            doc = await stranger.press("11111111#")
    assert doc["call"]["idv_status"] == "identified_only"
    owner = Caller(client)
    await owner.start()  # Alice, from her own number, identified by it
    doc = await owner.press("01021980#")
    await client.close()
    assert doc["call"]["idv_status"] == "identified_and_verified"
