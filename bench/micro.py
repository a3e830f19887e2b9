"""Micro-benchmarks behind the design choices the product's docstrings explain without figures.

    python -m bench.micro [--repeat 7] [--only metrics,tokens,state,records,xml,redis]

Each figure is the median over `--repeat` timing runs (timeit, best loop count) of one
operation, with the machine named; prints figures, asserts nothing. What each one backs:

- metrics: a prometheus_client counter update through `labels()` against the kept child
  (ivr.calls.metrics.child), and a histogram observation: what the webhook path pays per
  update with the one metrics system;
- tokens: signing a visual-IVR token (ivr.tokens, once per verified call) with the issuer's
  own `jwt.PyJWS`, whose HS256 checks the key once, against `jwt.encode`, which checks the key
  on every signature; and verifying one with `jwt.decode`;
- state: a call's state (a realistic CallState with answers) written and read back by orjson
  and by the json module (ivr.sessions.redis_store stores it as JSON through orjson), and the
  in-memory store's pickle of the values only against a pickle of the whole dict
  (ivr.sessions.memory);
- records: building a JournalRecord, a slots dataclass, against the same dataclass frozen
  (ivr.journal.records: the engine builds several per webhook);
- xml: escaping an action URL and a prompt's text for TwiML the way ivr.adapters.xmltext does
  it (a `str.replace` only for the characters present, as ElementTree does) against
  `str.translate` with a table (what it did before);
- redis: CPU per lock-and-load + save-and-unlock pair of commands under 32 concurrent callers,
  through ivr.sessions.resp and through redis.asyncio, against the local Redis
  (ivr.sessions.resp says why the session store does not use redis.asyncio). Skipped, with a
  line saying so, when no Redis answers on 127.0.0.1:6379 (`--redis URL`).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import pickle
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from bench.machine import describe
from ivr.adapters.xmltext import escape_attribute
from ivr.engine.state import CallState
from ivr.journal.records import JournalRecord, RecordKind
from ivr.tokens import TokenIssuer

SECTIONS = ("metrics", "tokens", "state", "records", "xml", "redis")


def per_call_us(fn: Callable[[], object], repeat: int) -> float:
    """Median over `repeat` runs of the time of one call, in microseconds."""
    timer = timeit.Timer(fn)
    loops, _ = timer.autorange()
    return statistics.median(t / loops for t in timer.repeat(repeat, loops)) * 1e6


def show(name: str, microseconds: float, note: str = "") -> None:
    print(f"  {name:<58} {microseconds:8.2f} us{('  ' + note) if note else ''}", flush=True)


def metrics(repeat: int) -> None:
    registry = CollectorRegistry()
    events = Counter("bench_events_total", "e", ["adapter", "kind"], registry=registry)
    latency = Histogram(
        "bench_seconds", "l", ["adapter"], registry=registry, buckets=(0.001, 0.01, 0.1, 1.0)
    )
    kept = events.labels("twilio", "gather")
    kept_latency = latency.labels("twilio")
    show(
        "counter: labels(adapter, kind).inc()",
        per_call_us(lambda: events.labels("twilio", "gather").inc(), repeat),
    )
    show("counter: kept child .inc()", per_call_us(kept.inc, repeat))
    show(
        "histogram: kept child .observe(0.003)",
        per_call_us(lambda: kept_latency.observe(0.003), repeat),
    )


def tokens(repeat: int) -> None:
    issuer = TokenIssuer("benchmark-token-key-of-sufficient-length-0123456789")
    token = issuer.issue("call-1", "C1001", "identified_and_verified")
    show(
        "token: issue (ivr.tokens: PyJWS, HS256, key checked once)",
        per_call_us(lambda: issuer.issue("call-1", "C1001", "identified_and_verified"), repeat),
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    show(
        "token: the same claims through jwt.encode (key checked each time)",
        per_call_us(lambda: jwt.encode(claims, issuer.key, algorithm="HS256"), repeat),
    )
    show(
        "token: verify (jwt.decode, HS256, aud/iss/exp)",
        per_call_us(lambda: issuer.verify(token), repeat),
    )


def xml(repeat: int) -> None:
    table = str.maketrans(
        {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;"}
        | {"\t": "&#09;"}
    )
    samples = {
        "an action URL": "https://ivr.example.com/twilio/gather?step=date_of_birth&attempt=1&max=8",
        "a prompt text": "Please key in your date of birth as eight digits, day, month and year.",
    }
    for name, value in samples.items():
        assert escape_attribute(value) == value.translate(table)
        ours = functools.partial(escape_attribute, value)
        theirs = functools.partial(str.translate, value, table)
        show(f"xml: escape {name}: ivr.adapters.xmltext", per_call_us(ours, repeat))
        show(f"xml: escape {name}: str.translate", per_call_us(theirs, repeat))


def sample_state() -> dict[str, Any]:
    """A call's state as the pipeline stores it after a few webhooks."""
    state = CallState(
        call_id="CA" + "0123456789abcdef" * 2,
        flow_id="idv",
        flow_version="3",
        service_line="cards",
        language="en-GB",
        ani="+447700900123",
        dnis="+441134960000",
        caller_id_trust="verified",
        state="s_ask_dob",
        attempts={"ask_account": 1, "ask_dob": 2},
        customer_id="C1001",
        customer_name="Alice Example",
        identified_by="lookup_ani",
        factors_passed=["date_of_birth"],
        variables={"queue": "general", "brand": "Example Bank"},
        steps_taken=6,
        seq=14,
        started_at=1_760_000_000.25,
        step_started_at=1_760_000_012.5,
    )
    document = '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/twilio/gather'
    state.answers = {
        f"gather:{n}": {"content_type": "text/xml", "body": document + str(n) + '"/></Response>'}
        for n in range(4)
    }
    return state.to_dict()


def state(repeat: int) -> None:
    data = sample_state()
    text = orjson.dumps(data)
    print(f"  (state: {len(text)} bytes of JSON)")
    show(
        "state JSON: orjson dumps + loads",
        per_call_us(lambda: orjson.loads(orjson.dumps(data)), repeat),
    )
    show(
        "state JSON: json dumps + loads", per_call_us(lambda: json.loads(json.dumps(data)), repeat)
    )
    keys = tuple(data)
    show(
        "memory store: pickle of the values, dict(zip(keys, ...))",
        per_call_us(
            lambda: dict(
                zip(keys, pickle.loads(pickle.dumps(tuple(data.values()), 5)), strict=True)
            ),
            repeat,
        ),
    )
    show(
        "memory store: pickle of the whole dict",
        per_call_us(lambda: pickle.loads(pickle.dumps(data, 5)), repeat),
    )


@dataclass(frozen=True)
class _FrozenRecord:
    call_id: str
    seq: int
    at: float
    kind: RecordKind
    flow_id: str
    flow_version: str
    service_line: str
    step: str | None
    outcome: str | None
    attempt: int | None
    duration_ms: float | None
    data: dict[str, Any]


def records(repeat: int) -> None:
    values: tuple[Any, ...] = (
        "call-1",
        3,
        1.5,
        RecordKind.OPERATION,
        "idv",
        "3",
        "cards",
        "ask_dob",
        "ok",
        1,
        0.5,
        {},
    )
    show(
        "JournalRecord(...) (slots dataclass)", per_call_us(lambda: JournalRecord(*values), repeat)
    )
    show("the same fields, frozen dataclass", per_call_us(lambda: _FrozenRecord(*values), repeat))


async def _pairs_cpu(send: Callable[[int], Any], callers: int, pairs: int) -> float:
    """Process CPU seconds per pair of commands, `callers` tasks sending concurrently."""

    async def caller(index: int) -> None:
        for _ in range(pairs // callers):
            await send(index)

    await asyncio.gather(*(caller(i) for i in range(callers)))  # warm-up: connections, scripts
    started = time.process_time()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    return (time.process_time() - started) / (pairs // callers * callers)


async def redis(url: str, callers: int = 32, pairs: int = 6_400) -> None:
    from redis import asyncio as redis_asyncio

    from ivr.sessions.resp import RespClient, RespConnectionError

    ours = RespClient.from_url(url)
    try:
        await ours.execute("PING")
    except (RespConnectionError, OSError) as error:
        print(f"  redis: skipped, no Redis at {url} ({error})")
        await ours.close()
        return
    state_json = orjson.dumps(sample_state())
    prefix = f"ivr-bench-micro-{time.time_ns()}:"

    async def with_ours(index: int) -> None:
        key = f"{prefix}{index}"
        await ours.execute("SET", key + ":lock", "t", "NX", "PX", "5000")
        await ours.execute("GET", key)
        await ours.execute("SET", key, state_json, "EX", "60")
        await ours.execute("DEL", key + ":lock")

    theirs = redis_asyncio.Redis.from_url(url, max_connections=callers)

    async def with_theirs(index: int) -> None:
        key = f"{prefix}{index}"
        await theirs.set(key + ":lock", "t", nx=True, px=5000)
        await theirs.get(key)
        await theirs.set(key, state_json, ex=60)
        await theirs.delete(key + ":lock")

    try:
        mine = await _pairs_cpu(with_ours, callers, pairs)
        other = await _pairs_cpu(with_theirs, callers, pairs)
    finally:
        keys = [f"{prefix}{i}{suffix}" for i in range(callers) for suffix in ("", ":lock")]
        await theirs.delete(*keys)
        await theirs.aclose()
        await ours.close()
    note = f"({callers} concurrent callers, SET NX + GET, SET EX + DEL)"
    show("redis: CPU per lock+load, save+unlock: ivr.sessions.resp", mine * 1e6, note)
    show("redis: CPU per lock+load, save+unlock: redis.asyncio", other * 1e6, note)
    print(f"  redis: redis.asyncio / ivr.sessions.resp CPU: {other / mine:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.micro", description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    wanted = [name for name in args.only.split(",") if name]
    print(f"bench.micro on {describe()}; median of {args.repeat} runs per figure")
    for name in wanted:
        print(f"{name}:", flush=True)
        if name == "redis":
            asyncio.run(redis(args.redis))
        elif name in SECTIONS:
            globals()[name](args.repeat)
        else:
            print(f"  unknown section {name!r}; sections: {', '.join(SECTIONS)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
