"""Every `IVR_*` environment variable in one place: its name, type, default and how it is shown.

This is the only module that reads the process environment. Entry points (`ivr serve`,
`ivr simulate`, `ivr customers`, the journal worker ...) call `load_settings()` once and pass
what each part needs explicitly, so a library function never depends on the environment of
whoever happens to import it, and `ivr serve --check-config` can show the whole picture.

Secrets are `SecretStr`: they never appear in a repr, a log line or `--check-config` output.
Two secrets have loud development defaults so `make run` works on a fresh clone; each use of
one logs a warning, and `--check-config` says it is in use. `${NAME:-default}` references in
config/*.yaml are expanded from `config_environment()`, the same environment, at load time.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "IVR_"
DEFAULT_JOURNAL_URL = "sqlite:///var/journal.db"
DEFAULT_SPOOL_MAX_BYTES = 256 * 2**20  # ~6 million journal records at ~45 bytes each
# Only for development and tests: anyone can read them here, so production sets its own.
DEVELOPMENT_ANSWER_KEY = b"ivr-development-key-do-not-use-in-production"
DEVELOPMENT_TOKEN_KEY = "ivr-development-token-key-do-not-use-in-production"
# seals card digits between two webhooks of a call: `id:base64` of 32 public bytes
DEVELOPMENT_PAYMENT_KEYS = (
    "dev:"
    + base64.b64encode(
        hashlib.sha256(b"ivr development payment key - do not use in production").digest()
    ).decode()
)
PAYMENT_KEYS_ENV = "IVR_PAYMENT_KEYS"
_CPU_LIST = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")
_log = logging.getLogger(__name__)
_warned: set[str] = set()
# seals customers' TOTP enrolment secrets (ivr.stepup): `id:base64` of 32 public bytes
DEVELOPMENT_OTP_KEYS = (
    "dev:"
    + base64.b64encode(
        hashlib.sha256(b"ivr development one-time code key - do not use in production").digest()
    ).decode()
)
OTP_KEYS_ENV = "IVR_OTP_KEYS"


class SettingsError(ValueError):
    """One or more `IVR_*` variables hold a value that cannot be used; `problems` name them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """The deployment's settings; every field is the variable `IVR_<FIELD NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_ignore_empty=True,  # `IVR_X=` (set but empty) means not set: the default applies
        frozen=True,
        extra="ignore",
    )

    secret_key: SecretStr | None = Field(
        None,
        description="HMAC key(s) of stored security answers; several, comma-separated and "
        "newest first, while rotating",
    )
    token_key: SecretStr | None = Field(None, description="signs the visual-IVR tokens (HS256)")
    webhook_secret: SecretStr | None = Field(
        None, description="signs the JSON webhook; without it /json/events is not mounted"
    )
    twilio_auth_token: SecretStr | None = Field(
        None, description="verifies Twilio's signatures; mounts /twilio/*"
    )
    jambonz_secret: SecretStr | None = Field(
        None, description="verifies jambonz's signatures (comma-separated while rotating)"
    )
    jambonz_ws_username: str | None = Field(
        None,
        description="user name of jambonz's WebSocket application (with the password: /jambonz/ws)",
    )
    jambonz_ws_password: SecretStr | None = Field(
        None, description="its HTTP Basic password; without both, /jambonz/ws is not served"
    )
    reports_key: SecretStr | None = Field(
        None, description="key for /dashboard, /reports and /calls (off without it)"
    )
    admin_key: SecretStr | None = Field(None, description="key for POST /admin/reload")
    app_jwt_secret: SecretStr | None = Field(
        None, description="verifies the app's HS256 tokens (callback API; or a public key file)"
    )
    callback_keys: SecretStr | None = Field(
        None, description="seal callback secrets: id:base64 AES-256 keys, newest first"
    )
    payment_keys: SecretStr | None = Field(
        None,
        description="seal card digits between webhooks: id:base64 AES-256 keys, newest first",
    )
    payment_processor_token: SecretStr | None = Field(
        None, description="bearer token for the HTTP payment processor"
    )
    jambonz_api_key: SecretStr | None = Field(
        None, description="bearer key of jambonz's REST API (dialling callbacks)"
    )
    directory_token: SecretStr | None = Field(
        None, description="bearer token for an HTTP customer directory"
    )
    otp_keys: SecretStr | None = Field(
        None, description="seal TOTP enrolment secrets: id:base64 AES-256 keys, newest first"
    )
    otp_drift_steps: int = Field(
        1, ge=0, le=10, description="TOTP time steps accepted either side of now (clock drift)"
    )
    otp_code_ttl_s: int = Field(
        300, ge=30, le=3600, description="seconds a code sent by SMS or push stays usable"
    )
    otp_code_max_attempts: int = Field(
        3, ge=1, le=10, description="wrong tries that burn a sent code (a new one must be sent)"
    )
    otp_max_sends: int = Field(
        3, ge=1, le=20, description="codes sent to one customer per send window (resend limit)"
    )
    otp_send_window_s: int = Field(
        900, ge=60, le=86400, description="the window of the resend limit, in seconds"
    )
    otp_provider_url: str | None = Field(
        None, description="base URL of the SMS/push code provider (docs/otp-provider-contract.md)"
    )
    otp_provider_token: SecretStr | None = Field(
        None, description="bearer token for the code provider"
    )
    agent_key: SecretStr | None = Field(
        None, description="key of the agent desktop for POST /step-ups (off without it)"
    )
    stepup_webhook_url: str | None = Field(
        None, description="where step-up results are posted to the agent desktop (signed)"
    )
    stepup_webhook_secret: SecretStr | None = Field(
        None, description="signs step-up webhooks (X-IVR-Signature); needed with the URL"
    )
    journal_url: str = Field(
        DEFAULT_JOURNAL_URL, description="the journal when --journal is not given", repr=False
    )
    journal_worker_cpus: str | None = Field(
        None, description="CPUs of the journal worker process, as taskset writes them (1, 2-3,6)"
    )
    journal_spool_dir: Path = Field(
        Path("var/journal-spool"),
        description="where the journal worker keeps records the store refuses, until it is back",
    )
    journal_spool_max_bytes: int = Field(
        DEFAULT_SPOOL_MAX_BYTES,
        gt=0,
        description="size cap of the journal spool (records over it are dropped and counted)",
    )
    flows_dir: Path = Field(Path("flows"), description="flows folder of remote drivers")
    config_dir: Path = Field(Path("config"), description="config folder of remote drivers")
    prompts_dir: Path = Field(Path("prompts"), description="prompts folder of remote drivers")

    @field_validator("journal_url")
    @classmethod
    def _journal_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("journal_worker_cpus")
    @classmethod
    def _cpus(cls, value: str | None) -> str | None:
        if value is not None and not _CPU_LIST.match(value):
            raise ValueError(f"{value!r} is not a list of CPU numbers such as 1 or 2-3,6")
        return value

    @field_validator("jambonz_secret")
    @classmethod
    def _secret_list(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not jambonz_list(value):
            raise ValueError("holds no secret (only commas and spaces)")
        return value

    @field_validator("callback_keys")
    @classmethod
    def _callback_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from ivr.callbacks.crypto import SecretBox

            SecretBox.from_text(value.get_secret_value())  # its error never shows a key
        return value

    @field_validator("payment_keys")
    @classmethod
    def _payment_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from ivr.callbacks.crypto import SecretBox

            SecretBox.from_text(value.get_secret_value(), PAYMENT_KEYS_ENV)  # never shows a key
        return value

    @field_validator("otp_keys")
    @classmethod
    def _otp_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from ivr.callbacks.crypto import SecretBox

            SecretBox.from_text(value.get_secret_value(), OTP_KEYS_ENV)  # never shows a key
        return value

    @field_validator("otp_provider_url", "stepup_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @classmethod
    def defaults(cls) -> Settings:
        """The built-in defaults, without reading the environment (tests, library callers)."""
        return cls.model_construct()

    # -- what the parts are given ---------------------------------------------------------

    def answer_key(self) -> bytes:
        """The HMAC key new answers are stored under (the newest), or the public development
        key with a warning."""
        return self.answer_keys()[0]

    def answer_keys(self) -> list[bytes]:
        """Every configured answer key, newest first (`IVR_SECRET_KEY=new,old` while rotating);
        the public development key, with a warning, when none is set."""
        keys = [part.encode("utf-8") for part in jambonz_list(self.secret_key)]
        if keys:
            return keys
        _warn_once(
            "secret_key",
            "IVR_SECRET_KEY is not set: security answers are hashed with the PUBLIC development "
            "key. Set IVR_SECRET_KEY to a long random secret before storing real customers.",
        )
        return [DEVELOPMENT_ANSWER_KEY]

    def token_signing_key(self) -> str:
        """The visual-IVR token key, or the public development key with a warning."""
        if self.token_key is not None:
            return self.token_key.get_secret_value()
        _warn_once(
            "token_key",
            "IVR_TOKEN_KEY is not set: visual-IVR tokens use an insecure development key",
        )
        return DEVELOPMENT_TOKEN_KEY

    def payment_key_text(self) -> str:
        """The keys card digits are sealed with between webhooks (`id:base64`, newest first),
        or the public development key with a warning."""
        if self.payment_keys is not None:
            return self.payment_keys.get_secret_value()
        _warn_once(
            "payment_keys",
            "IVR_PAYMENT_KEYS is not set: card digits between webhooks are sealed with the "
            "PUBLIC development key. Set IVR_PAYMENT_KEYS before taking real payments.",
        )
        return DEVELOPMENT_PAYMENT_KEYS

    def otp_key_text(self) -> str:
        """The keys sealing TOTP secrets, or the public development key with a warning."""
        if self.otp_keys is not None:
            return self.otp_keys.get_secret_value()
        _warn_once(
            "otp_keys",
            "IVR_OTP_KEYS is not set: TOTP secrets are sealed with the PUBLIC development key. "
            "Set IVR_OTP_KEYS (id:base64 of 32 random bytes) before enrolling real customers.",
        )
        return DEVELOPMENT_OTP_KEYS

    def jambonz_secrets(self) -> list[str]:
        return jambonz_list(self.jambonz_secret)

    def jambonz_ws_credentials(self) -> tuple[str, str] | None:
        """The user name and password jambonz opens /jambonz/ws with; None: not served."""
        password = self.reveal(self.jambonz_ws_password)
        if not self.jambonz_ws_username or not password:
            return None
        return self.jambonz_ws_username, password

    @staticmethod
    def reveal(secret: SecretStr | None) -> str | None:
        return None if secret is None else secret.get_secret_value()

    def describe(self) -> list[tuple[str, str, str]]:
        """(variable, shown value, meaning) for every setting, secrets masked."""
        rows: list[tuple[str, str, str]] = []
        for name, info in type(self).model_fields.items():
            rows.append((PREFIX + name.upper(), self._shown(name), info.description or ""))
        return rows

    def _shown(self, name: str) -> str:
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            return "******** (set)"
        if value is None:
            if name == "secret_key":
                return "(not set: the PUBLIC development key is in use)"
            if name in ("token_key", "payment_keys", "otp_keys"):
                return "(not set: the PUBLIC development key is in use)"
            return "(not set)"
        if name == "journal_url":
            return mask_url(str(value))
        return str(value)


def jambonz_list(secret: SecretStr | None) -> list[str]:
    text = "" if secret is None else secret.get_secret_value()
    return [part.strip() for part in text.split(",") if part.strip()]


def mask_url(url: str) -> str:
    """The URL with its password replaced by ******** (postgresql://user:pass@host/db)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:********@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings() -> Settings:
    """The settings from the environment; SettingsError names every variable that is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"])
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{PREFIX}{field.upper()}: {message}")
        raise SettingsError(problems) from None


def config_environment() -> Mapping[str, str]:
    """What `${NAME}` / `${NAME:-default}` in config/*.yaml are expanded from."""
    return os.environ


def child_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child process of ours: this one's, with `overrides` set."""
    return {**os.environ, **overrides}


def unknown_variables(known: set[str]) -> list[str]:
    """`IVR_*` variables set here that no setting and no config reference uses (a typo?)."""
    fields = {PREFIX + name.upper() for name in Settings.model_fields}
    return sorted(
        name for name in os.environ if name.startswith(PREFIX) and name not in fields | known
    )


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        _log.warning(message)
