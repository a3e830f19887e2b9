"""Service lines and routes from config/: which flow a number runs, and where routes go.

Values may name environment variables as `${NAME}` or `${NAME:-default}`, so the same flow runs
in test and in production with different queue ids and URLs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.fields import BUILTIN_FIELDS, FieldError, FieldSpec, load_fields
from ivr.limits.policy import Limits
from ivr.numbers import DEFAULT_REGION, is_region
from ivr.settings import config_environment


class RouteKind(StrEnum):
    """Where a route hands the call on; flows and config/routes.yaml name these."""

    AGENT = "agent"
    SELF_SERVICE = "self_service"
    MAIN_MENU = "main_menu"
    FLOW = "flow"


_ENV_REF = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and what is wrong."""


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace `${NAME}` / `${NAME:-default}`; an unset variable without default is an error."""
    env = config_environment() if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"environment variable {name} is not set and has no default")

    return _ENV_REF.sub(substitute, text)


def environment_references(config_dir: Path) -> list[tuple[str, str, str | None]]:
    """(file name, NAME, default or None) of every `${NAME...}` in the config files."""
    found: list[tuple[str, str, str | None]] = []
    for path in sorted(config_dir.glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue  # load_config says why
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue  # a comment explaining the syntax names no variable
            for match in _ENV_REF.finditer(line):
                reference = (path.name, match["name"], match["default"])
                if reference not in found:
                    found.append(reference)
    return found


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteConfig(_Strict):
    kind: RouteKind
    target: str = Field(min_length=1)
    # how each gateway hands the call on for this route; unset: the route kind's default
    twilio: Literal["enqueue", "sip", "redirect"] | None = None
    jambonz: Literal["dial", "enqueue"] | None = None


class LinePayments(_Strict):
    """How a service line takes cards: in the engine (`capture`, the default), or by Twilio's
    `<Pay>` (`twilio_pay`: Twilio collects the digits and charges through `connector`, so no
    digit reaches this server; calls of that line arriving by another gateway are routed on)."""

    mode: Literal["capture", "twilio_pay"] = "capture"
    connector: str = Field(default="Default", min_length=1, max_length=64)


class PaymentsConfig(_Strict):
    """config/payments.yaml: the processor payment steps charge through."""

    processor: Literal["test", "http"] = "test"
    url: str | None = Field(default=None, pattern=r"^https?://")


class ServiceLine(_Strict):
    name: str = Field(min_length=1)
    dnis: list[str] = Field(default_factory=list)
    flow: str = Field(min_length=1)
    language: str = Field(min_length=2)
    settings: dict[str, bool | int | str] = Field(default_factory=dict)
    routes: dict[str, str] = Field(default_factory=dict)
    # where national calling numbers are read (ISO 3166 code); unset: default_region
    region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    limits: dict[str, float | int] = Field(default_factory=dict)  # over the file's `limits`
    payments: LinePayments = Field(default_factory=LinePayments)


class _RoutesFile(_Strict):
    routes: dict[str, RouteConfig]


class _ServiceLinesFile(_Strict):
    service_lines: list[ServiceLine] = Field(min_length=1)
    default_service_line: str
    default_region: str = Field(default=DEFAULT_REGION, pattern=r"^[A-Z]{2}$")
    limits: Limits = Field(default_factory=Limits)


class AppConfig(_Strict):
    """The resolved configuration: routes by name and service lines by DNIS."""

    routes: dict[str, RouteConfig]
    service_lines: list[ServiceLine]
    default_service_line: str
    default_region: str = DEFAULT_REGION
    # the directory's security questions (config/directory.yaml), by name
    fields: dict[str, FieldSpec] = Field(default_factory=lambda: dict(BUILTIN_FIELDS))

    def region(self, line: ServiceLine) -> str:
        """The region a line's national calling numbers are read in."""
        return line.region or self.default_region

    limits: Limits = Field(default_factory=Limits)  # every line's, before its own keys
    payments: PaymentsConfig = Field(default_factory=PaymentsConfig)

    def limits_for(self, line_name: str) -> Limits:
        """The limits of a service line: the file's, with the line's own keys over them."""
        return self.limits.merged(self.service_line(line_name).limits)

    def service_line_for(self, dnis: str | None) -> ServiceLine:
        for line in self.service_lines:
            if dnis is not None and dnis in line.dnis:
                return line
        return self.service_line(self.default_service_line)

    def service_line(self, name: str) -> ServiceLine:
        for line in self.service_lines:
            if line.name == name:
                return line
        raise ConfigError(f"no service line named {name!r}")

    def route_names(self) -> set[str]:
        """Every name a flow may route to: routes, plus aliases some service line defines."""
        aliases = {alias for line in self.service_lines for alias in line.routes}
        return set(self.routes) | aliases

    def resolve_route(self, name: str, line: ServiceLine) -> tuple[str, RouteConfig]:
        """A flow's route name -> (route name, route), through the line's aliases."""
        resolved = line.routes.get(name, name)
        route = self.routes.get(resolved)
        if route is None:
            raise ConfigError(
                f"route {name!r} of service line {line.name!r} resolves to {resolved!r}, "
                "which config/routes.yaml does not define"
            )
        return resolved, route


def _read_yaml(path: Path, environ: Mapping[str, str] | None) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from error
    try:
        return yaml.safe_load(expand_env(text, environ))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


def _describe(path: Path, error: ValidationError) -> ConfigError:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
    )
    return ConfigError(f"{path}: {problems}")


def _fields(path: Path) -> dict[str, FieldSpec]:
    try:
        return load_fields(path)
    except FieldError as error:
        raise ConfigError(str(error)) from error


def _payments(path: Path, environ: Mapping[str, str] | None) -> PaymentsConfig:
    """config/payments.yaml, or the built-in test processor when the file is absent."""
    if not path.exists():
        return PaymentsConfig()
    try:
        config = PaymentsConfig.model_validate(_read_yaml(path, environ) or {})
    except ValidationError as error:
        raise _describe(path, error) from error
    if config.processor == "http" and config.url is None:
        raise ConfigError(f"{path}: processor http needs url: (the processor's base URL)")
    return config


def load_config(config_dir: Path, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Load `routes.yaml`, `service-lines.yaml` and (if present) `directory.yaml` from a config
    directory and cross-check them."""
    routes_path = config_dir / "routes.yaml"
    lines_path = config_dir / "service-lines.yaml"
    try:
        routes = _RoutesFile.model_validate(_read_yaml(routes_path, environ))
    except ValidationError as error:
        raise _describe(routes_path, error) from error
    try:
        lines = _ServiceLinesFile.model_validate(_read_yaml(lines_path, environ))
    except ValidationError as error:
        raise _describe(lines_path, error) from error
    config = AppConfig(
        routes=routes.routes,
        service_lines=lines.service_lines,
        default_service_line=lines.default_service_line,
        default_region=lines.default_region,
        fields=_fields(config_dir / "directory.yaml"),
        limits=lines.limits,
        payments=_payments(config_dir / "payments.yaml", environ),
    )
    config.service_line(config.default_service_line)
    for region in {config.default_region, *(line.region for line in config.service_lines)}:
        if region is not None and not is_region(region):
            raise ConfigError(f"{lines_path}: {region!r} is not a region code (GB, US, FR...)")
    for line in config.service_lines:
        try:
            config.limits_for(line.name)
        except ValidationError as error:
            raise ConfigError(
                f"{lines_path}: service line {line.name!r} limits: "
                + "; ".join(
                    f"{item['loc'][0] if item['loc'] else ''}: {item['msg']}"
                    for item in error.errors()
                )
            ) from error
    for line in config.service_lines:
        for alias, target in line.routes.items():
            if target not in config.routes:
                raise ConfigError(
                    f"{lines_path}: service line {line.name!r} maps {alias!r} to {target!r}, "
                    "which routes.yaml does not define"
                )
    return config
