"""Prometheus metrics of the journal: the process registry, labels never carry call data."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS_WRITTEN = Counter("ivr_journal_records_written", "Journal records stored")
RECORDS_DROPPED = Counter(
    "ivr_journal_records_dropped", "Journal records dropped because the write queue was full"
)
SECRETS_STRIPPED = Counter(
    "ivr_journal_secret_keys_stripped", "Secret-looking data keys removed before storing a record"
)
WRITE_ERRORS = Counter("ivr_journal_write_errors", "Failed journal batch writes (retried)")
QUEUE_DEPTH = Gauge("ivr_journal_queue_depth", "Journal records waiting to be written")
FLUSH_SECONDS = Histogram(
    "ivr_journal_flush_seconds",
    "Time to write one batch of journal records",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
