"""Step-up verification: one-time codes (TOTP and codes sent to the customer) as flow
operations, and agent-initiated step-up challenges (docs/security.md, "One-time codes")."""
