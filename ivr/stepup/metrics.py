"""Metrics of one-time codes and step-ups (documented in docs/operations.md); labels never
carry a code, a customer or a call."""

from __future__ import annotations

from prometheus_client import Counter

OTP_CHECKS = Counter(
    "ivr_otp_checks_total",
    "One-time code checks by kind (totp, sent) and outcome",
    ["kind", "outcome"],
)
OTP_SENDS = Counter("ivr_otp_sends_total", "Codes sent to customers by outcome", ["outcome"])
PROVIDER_ERRORS = Counter(
    "ivr_otp_provider_errors_total",
    "Code provider failures by reason (timeout, unreachable, status, garbage)",
    ["reason"],
)
STEP_UPS = Counter(
    "ivr_step_ups_total",
    "Agent step-up challenges by event: started, wrong, verified, failed, expired, locked,"
    " not_enrolled, token_redeemed",
    ["event"],
)
STEP_UP_WEBHOOK_FAILURES = Counter(
    "ivr_step_up_webhook_failures_total",
    "Step-up results the agent desktop's webhook did not accept after every retry",
)
