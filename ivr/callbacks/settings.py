"""Callback settings: config/callbacks.yaml and config/queues.yaml, secrets from the environment.

Secrets (the JWT secret, the sealing keys, gateway credentials) are only ever read from the
environment; the YAML names files and URLs. A mistake is refused at startup with the file and
the field, never found by a customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ivr.callbacks.auth import AppAuth
from ivr.callbacks.crypto import SecretBox
from ivr.callbacks.queues import Queues
from ivr.config import ConfigError, expand_env
from ivr.settings import Settings, config_environment

FILE_NAME = "callbacks.yaml"
TWILIO_TOKEN_ENV = "IVR_TWILIO_AUTH_TOKEN"
JAMBONZ_API_KEY_ENV = "IVR_JAMBONZ_API_KEY"
JAMBONZ_SECRET_ENV = "IVR_JAMBONZ_SECRET"  # verifies jambonz's webhooks, dial status included
WEBHOOK_SECRET_ENV = "IVR_WEBHOOK_SECRET"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _unset_is_empty(cls, value: object) -> object:
        return "" if value is None else value  # `${NAME:-}` leaves YAML null


class AuthFile(_Strict):
    public_key_file: str = ""
    algorithms: list[Literal["HS256", "RS256", "ES256"]] = Field(default_factory=list)
    audience: str = ""
    issuer: str = ""


class TwilioDial(_Strict):
    api_base: str = "https://api.twilio.com"
    account_sid: str = ""
    machine_detection: Literal["Enable", "DetectMessageEnd", ""] = "Enable"


class JambonzDial(_Strict):
    api_base: str = "https://api.jambonz.cloud"
    account_sid: str = ""
    application_sid: str = ""


class JsonDial(_Strict):
    url: str = ""


class DispatchFile(_Strict):
    gateway: Literal["twilio", "jambonz", "json", "none"] = "none"
    from_number: str = ""
    flow: str = "callback"
    interval_s: float = Field(5.0, gt=0, le=300)
    ring_timeout_s: int = Field(30, ge=5, le=120)
    twilio: TwilioDial = TwilioDial()
    jambonz: JambonzDial = JambonzDial()
    json_: JsonDial = Field(JsonDial(), alias="json")


class ProbeFile(_Strict):
    """How often the callback database is asked `SELECT 1`, and how long it may take."""

    interval_s: float = Field(5.0, gt=0, le=300)
    timeout_s: float = Field(2.0, gt=0, le=60)


class CallbacksFile(_Strict):
    app_auth: AuthFile = AuthFile()
    dispatch: DispatchFile = DispatchFile()
    probe: ProbeFile = ProbeFile()


@dataclass(frozen=True)
class CallbackSettings:
    auth: AppAuth | None
    box: SecretBox | None
    queues: Queues
    dispatch: DispatchFile
    secrets: Mapping[str, str]  # gateway credentials by env name (never logged)
    probe: ProbeFile = ProbeFile()

    @property
    def api_ready(self) -> bool:
        return self.auth is not None and self.box is not None


def load(
    config_dir: Path,
    env: Settings,
    environ: Mapping[str, str] | None = None,
    webhook_secret: str | None = None,
) -> CallbackSettings:
    """`env` gives the secrets; `environ` expands `${NAME}` in the YAML (default: as ivr.settings
    says)."""
    environ = config_environment() if environ is None else environ
    path = config_dir / FILE_NAME
    data: object = {}
    if path.exists():
        try:
            data = yaml.safe_load(expand_env(path.read_text(encoding="utf-8"), environ)) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not YAML: {error}") from None
    try:
        parsed = CallbacksFile.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    auth_file = parsed.app_auth
    key_file = Path(auth_file.public_key_file) if auth_file.public_key_file else None
    try:
        auth = AppAuth.build(
            env.reveal(env.app_jwt_secret),
            key_file,
            tuple(auth_file.algorithms),
            auth_file.audience or None,
            auth_file.issuer or None,
        )
        keys = env.reveal(env.callback_keys)
        box = SecretBox.from_text(keys) if keys else None
    except ValueError as error:
        raise ConfigError(f"callbacks: {error}") from None
    found = {
        TWILIO_TOKEN_ENV: env.reveal(env.twilio_auth_token),
        JAMBONZ_API_KEY_ENV: env.reveal(env.jambonz_api_key),
        JAMBONZ_SECRET_ENV: ",".join(env.jambonz_secrets()),
        WEBHOOK_SECRET_ENV: webhook_secret or env.reveal(env.webhook_secret),
    }
    secrets = {name: value for name, value in found.items() if value}
    try:
        queues = Queues.load(config_dir)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return CallbackSettings(auth, box, queues, parsed.dispatch, secrets, parsed.probe)
