"""Assembling one-time codes for an engine from its directory and the settings."""

from __future__ import annotations

import time
from collections.abc import Callable

from ivr.callbacks.crypto import SecretBox
from ivr.directory.hashing import KeyRing
from ivr.directory.lockout import LockingDirectory
from ivr.directory.otp_state import OtpState
from ivr.directory.port import CustomerDirectory
from ivr.directory.sqlite_store import SqliteDirectory
from ivr.engine.operations import OperationRegistry
from ivr.settings import OTP_KEYS_ENV, Settings
from ivr.stepup.operations import Lockout, OneTimeCodes, otp_operations
from ivr.stepup.provider import HttpCodeProvider
from ivr.stepup.sent_codes import SentCodePolicy, SentCodes
from ivr.stepup.totp import TotpVerifier


def otp_box(settings: Settings) -> SecretBox:
    """The box sealing TOTP secrets (`IVR_OTP_KEYS`, or the public development key)."""
    return SecretBox.from_text(settings.otp_key_text(), OTP_KEYS_ENV)


def lockout_of(directory: CustomerDirectory) -> Lockout | None:
    """The directory's own lockout, so wrong codes count with wrong answers."""
    if isinstance(directory, SqliteDirectory) and directory.lockout_state is not None:
        return Lockout(directory.lockout_state, directory.policy)
    if isinstance(directory, LockingDirectory):
        return Lockout(directory.state, directory.policy)
    return None


def otp_state_of(directory: CustomerDirectory) -> OtpState | None:
    if isinstance(directory, SqliteDirectory | LockingDirectory):
        return directory.otp_state
    return None


def sent_code_policy(settings: Settings) -> SentCodePolicy:
    return SentCodePolicy(
        ttl_s=settings.otp_code_ttl_s,
        max_attempts=settings.otp_code_max_attempts,
        max_sends=settings.otp_max_sends,
        send_window_s=settings.otp_send_window_s,
    )


def one_time_codes(
    directory: CustomerDirectory, settings: Settings, clock: Callable[[], float] = time.time
) -> OneTimeCodes | None:
    """Codes checked against the state kept beside the directory's lockout; None when the
    directory keeps none (the operations then answer `error`)."""
    state = otp_state_of(directory)
    if state is None:
        return None
    provider = None
    if settings.otp_provider_url:
        token = Settings.reveal(settings.otp_provider_token)
        provider = HttpCodeProvider(settings.otp_provider_url, token)
    keys = KeyRing.from_settings(settings)
    return OneTimeCodes(
        totp=TotpVerifier(state, otp_box(settings), settings.otp_drift_steps, clock),
        sent=SentCodes(state, keys, provider, sent_code_policy(settings), clock),
        lockout=lockout_of(directory),
    )


def install_one_time_codes(
    registry: OperationRegistry, directory: CustomerDirectory, settings: Settings
) -> OneTimeCodes | None:
    codes = one_time_codes(directory, settings)
    if codes is not None:
        for name, operation in otp_operations(codes).items():
            registry.implement(name, operation)
    return codes
