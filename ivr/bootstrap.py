"""Assemble an engine from the project's folders: flows/, config/, prompts/ and a directory.

Used by every entry point (console simulator, test runner, webhook server) so that they all
run the same flows the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ivr.callbacks.crypto import SecretBox
from ivr.config import AppConfig, PaymentsConfig, load_config
from ivr.directory.factory import open_directory
from ivr.directory.hashing import KeyRing
from ivr.directory.port import CustomerDirectory
from ivr.engine.directory_ops import registry_for
from ivr.engine.payment_step import PaymentRunner, PaymentSettings
from ivr.engine.registry import FlowRegistry
from ivr.engine.runtime import Engine, EngineSettings
from ivr.flow.compiler import compile_flow
from ivr.flow.loader import FlowLoadError, LoadedFlow, ValidationContext, load_flow, load_flows
from ivr.limits.guard import BACKSTOP, AbuseGuard
from ivr.payments.processor import PaymentProcessor
from ivr.payments.test_processor import TestProcessor
from ivr.payments.vault import PaymentVault
from ivr.prompts.catalog import PromptCatalog
from ivr.settings import PAYMENT_KEYS_ENV, Settings
from ivr.stepup.wiring import install_one_time_codes
from ivr.tokens import TokenIssuer


@dataclass(frozen=True)
class Project:
    """Where a deployment's files are; the defaults are this repository's folders."""

    flows: Path = Path("flows")
    config: Path = Path("config")
    prompts: Path = Path("prompts")

    @classmethod
    def from_settings(cls, settings: Settings) -> Project:
        """IVR_FLOWS_DIR, IVR_CONFIG_DIR, IVR_PROMPTS_DIR (remote drivers find prompts there)."""
        return cls(settings.flows_dir, settings.config_dir, settings.prompts_dir)


@dataclass
class Loaded:
    config: AppConfig
    catalog: PromptCatalog
    flows: dict[str, LoadedFlow]
    registry: FlowRegistry
    config_dir: Path | None = None  # where config/ was read (callback queues for test cases)


def load_project(project: Project, extra_flow: Path | None = None) -> Loaded:
    """Load config, prompts and the flows folder, validate and compile; raise FlowLoadError.

    `extra_flow` (a flow file being tried out, possibly outside the folder) is loaded last
    and becomes the current version of its flow id.
    """
    config = load_config(project.config)
    catalog = PromptCatalog.load(project.prompts)
    context = ValidationContext(catalog=catalog, config=config)
    loaded: dict[str, LoadedFlow] = {}
    if project.flows.is_dir():
        loaded, problems = load_flows([project.flows], context)
        errors = [problem for problem in problems if problem.severity == "error"]
        if errors:
            raise FlowLoadError(errors)
    if extra_flow is not None and extra_flow.resolve().parent != project.flows.resolve():
        others = {flow.flow.flow.id: flow.flow for flow in loaded.values()}
        extra = load_flow(extra_flow, replace(context, flows=others))
        loaded[extra.flow.flow.id] = extra
    registry = FlowRegistry()
    for flow in loaded.values():
        registry.add(compile_flow(flow.flow, flow.path, flow.step_lines))
    return Loaded(config, catalog, loaded, registry, project.config)


async def build_engine(
    loaded: Loaded,
    directory: CustomerDirectory | str,
    settings: EngineSettings | None = None,
    secrets: Settings | None = None,
    guard: AbuseGuard | None = None,
) -> tuple[Engine, CustomerDirectory]:
    """An engine over `loaded`, with the directory opened from a path/URL if one is given.

    `secrets` gives the token key, the answers' HMAC key and the directory's bearer token
    (None: the built-in defaults, whose development keys log a warning when used). With a
    `guard` (the server has one) the directory operations run under the rate limits and fair
    lockout of ivr.limits, and the directory's own lockout becomes the backstop.
    """
    secrets = secrets or Settings.defaults()
    if isinstance(directory, str):
        opened = await open_directory(
            directory,
            token=Settings.reveal(secrets.directory_token),
            keys=None if secrets.secret_key is None else KeyRing.from_settings(secrets),
            policy=BACKSTOP if guard is not None else None,
        )
    else:
        opened = directory
    operations = registry_for(opened)
    install_one_time_codes(operations, opened, secrets)
    engine = Engine(
        payments=payment_runner(loaded.config, secrets, (settings or EngineSettings())),
        flows=loaded.registry,
        config=loaded.config,
        catalog=loaded.catalog,
        operations=operations,
        tokens=TokenIssuer(secrets.token_signing_key()),
        settings=settings,
    )
    if guard is not None:
        guard.wrap(operations, lambda: engine.config, engine.settings.operation_deadline_s)
    return engine, opened


def payment_processor(config: PaymentsConfig, secrets: Settings) -> PaymentProcessor:
    """The processor config/payments.yaml names (the built-in test one by default)."""
    if config.processor == "http":
        from ivr.payments.http_processor import HttpProcessor

        assert config.url is not None  # load_config refuses http without a url
        return HttpProcessor(config.url, Settings.reveal(secrets.payment_processor_token))
    return TestProcessor()


def payment_runner(config: AppConfig, secrets: Settings, settings: EngineSettings) -> PaymentRunner:
    """Payment steps' processor and the vault that seals card digits between webhooks."""
    processor = payment_processor(config.payments, secrets)
    box = SecretBox.from_text(secrets.payment_key_text(), PAYMENT_KEYS_ENV)
    return PaymentRunner(
        PaymentSettings(
            vault=PaymentVault(box),
            processor=processor,
            deadline_s=settings.operation_deadline_s,
        )
    )
