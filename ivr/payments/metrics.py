"""Payment metrics: what was charged and how it ended, never what was keyed in."""

from __future__ import annotations

from prometheus_client import Counter

PAYMENTS = Counter(
    "ivr_payments_total",
    "Card payments finished, by processor and outcome (paid, declined, cancelled, error)",
    ["processor", "outcome"],
)
PROCESSOR_ERRORS = Counter(
    "ivr_payment_processor_errors_total",
    "Payment processor calls that failed, by kind (timeout, unreachable, bad_answer...)",
    ["processor", "kind"],
)
SECURE_SESSIONS = Counter(
    "ivr_secure_sessions_total",
    "Agent-assisted payments by event: requested, started, push_failed, and how they ended"
    " (paid, declined, cancelled, error, abandoned)",
    ["event"],
)
SECURE_SESSION_WEBHOOK_FAILURES = Counter(
    "ivr_secure_session_webhook_failures_total",
    "Secure session results the agent desktop's webhook did not accept after every retry",
)
