"""Prometheus metrics of the journal: the process registry, labels never carry call data."""

from __future__ import annotations

import weakref
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

RECORDS_WRITTEN = Counter("ivr_journal_records_written", "Journal records stored")
RECORDS_DROPPED = Counter(
    "ivr_journal_records_dropped", "Journal records dropped because the write queue was full"
)
SECRETS_STRIPPED = Counter(
    "ivr_journal_secret_keys_stripped", "Secret-looking data keys removed before storing a record"
)
WRITE_ERRORS = Counter("ivr_journal_write_errors", "Failed journal batch writes (retried)")
QUEUE_DEPTH = Gauge(
    "ivr_journal_queue_depth",
    "Journal records this process holds that are neither stored nor spooled (queued or in flight)",
)
RECORDS_SPOOLED = Counter(
    "ivr_journal_records_spooled", "Journal records the store refused, kept in the local spool"
)
SPOOL_DROPPED = Counter(
    "ivr_journal_spool_dropped_records",
    "Journal records the store refused and the spool could not take (over its size cap)",
)
SPOOL_DAMAGED = Counter(
    "ivr_journal_spool_damaged_bytes",
    "Bytes of damaged journal spool frames skipped (a torn tail after a crash, a tampered file)",
)
SPOOL_RECORDS = Gauge("ivr_journal_spool_records", "Journal records waiting in the local spool")
SPOOL_BYTES = Gauge("ivr_journal_spool_bytes", "Bytes of journal records in the local spool")
READS_FAILED = Counter(
    "ivr_journal_read_failures",
    "Times the server's journal store for reports and the dashboard could not be opened or used",
)
STORE_REBUILT = Counter(
    "ivr_journal_store_rebuilt",
    "Journal tables found missing (or the whole schema: `schema`) and recreated by the migrations",
    ["table"],
)


class Pending(Protocol):
    @property
    def queued(self) -> int: ...


_writers: weakref.WeakSet[Pending] = weakref.WeakSet()


def watch(writer: Pending) -> None:
    """Count `writer.queued` in ivr_journal_queue_depth, read when /metrics is scraped (so the
    gauge is exact at no cost on the engine's path) until the writer is gone."""
    _writers.add(writer)


QUEUE_DEPTH.set_function(lambda: float(sum(w.queued for w in list(_writers))))
FLUSH_SECONDS = Histogram(
    "ivr_journal_flush_seconds",
    "Time to write one batch of journal records",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
