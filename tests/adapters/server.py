"""Constants for end-to-end tests through the real server (fixtures in conftest.py)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TWILIO_TOKEN = "e2e-twilio-token"
JAMBONZ_SECRET = "e2e-jambonz-secret"
ALICE = "+447700900123"  # C1001, account 12345678, date of birth 01021980
DEMO_LINE = "+441134960000"  # identifies by ANI
CARDS_LINE = "+441134960001"  # asks for the account number first
