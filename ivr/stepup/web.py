"""Mounting one-time codes and step-ups on `ivr serve`.

The code provider's readiness is probed when one is configured. The step-up API needs the
journal database (its challenges live there, migration 5, so any worker answers any poll) and
`IVR_AGENT_KEY`; the app answers with the callback API's customer JWT when that is configured.
The keypad operation `stepup.answer` is implemented alongside.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ivr.callbacks import settings as callback_settings
from ivr.callbacks.lazy_db import LazyDatabase
from ivr.config import ConfigError
from ivr.engine.events import CallerIdTrust
from ivr.engine.operations import OperationCall
from ivr.payments.metrics import SECURE_SESSION_WEBHOOK_FAILURES
from ivr.settings import Settings
from ivr.stepup.api import StepUpApi, Unavailable, add_routes
from ivr.stepup.challenges import StepUpStore
from ivr.stepup.keypad import keypad_operation
from ivr.stepup.operations import OneTimeCodes
from ivr.stepup.provider import HttpCodeProvider, ProviderError
from ivr.stepup.readiness import ProviderProbe
from ivr.stepup.secure_sessions import SecureSessionApi
from ivr.stepup.secure_sessions import add_routes as add_secure_routes
from ivr.stepup.sent_codes import SendResult
from ivr.stepup.service import StepUpRefused, StepUpService
from ivr.stepup.tokens import ValidationTokens
from ivr.stepup.twilio_redirect import TwilioRedirect
from ivr.stepup.webhook import WebhookNotifier
from ivr.stepup.wiring import one_time_codes
from ivr.web.health import MORE_PROBES
from ivr.web.keys import CALLS, RUNTIME, STORE

if TYPE_CHECKING:
    from ivr.web.settings import ServeSettings

_log = logging.getLogger(__name__)
SERVICE: web.AppKey[StepUpService] = web.AppKey("step_up_service")
CODES: web.AppKey[OneTimeCodes] = web.AppKey("step_up_codes")
Context = Callable[[web.Application], AsyncIterator[None]]


def stepup_contexts(app: web.Application, serve: ServeSettings) -> list[Context]:
    """Probes and routes (added now) and the context that opens the step-up store."""
    env = serve.env
    probes = app.setdefault(MORE_PROBES, {})
    if env.otp_provider_url:
        token = Settings.reveal(env.otp_provider_token)
        probes["otp_provider"] = ProviderProbe(HttpCodeProvider(env.otp_provider_url, token))
    agent_key = Settings.reveal(env.agent_key)
    if not agent_key:
        _log.info("step-up and secure-session APIs not served: set IVR_AGENT_KEY")
        return []
    secure = secure_session_context(app, serve, agent_key)
    if not serve.journal_url:
        _log.info("step-up API off: step-ups are stored in the journal (--journal none)")
        return [secure]
    notify = _notifier(env)
    auth = callback_settings.load(
        serve.project.config, env, webhook_secret=serve.webhook_secret
    ).auth
    if auth is None:
        _log.warning("step-ups: the app cannot answer (no app JWT configured); keypad only")

    async def customer_of_call(call_id: str) -> tuple[bool, str | None]:
        state = await app[STORE].get(call_id)
        if state is None:
            return False, None
        customer = state.get("customer_id")
        return True, customer if isinstance(customer, str) else None

    async def prepare(customer_id: str, method: str, channel: str) -> None:
        await _prepare(app[CODES], customer_id, method, channel)

    add_routes(app, StepUpApi(lambda: app[SERVICE], agent_key, auth, customer_of_call, prepare))
    url = serve.journal_url

    async def step_ups(app: web.Application) -> AsyncIterator[None]:
        db = LazyDatabase(url)  # a database down at startup opens later (503s till then)
        await db.open()
        store = StepUpStore(db)
        runtime = app[RUNTIME]
        engine = runtime.engine
        codes = one_time_codes(runtime.directory, env)
        if codes is None:
            raise ConfigError("step-ups need a directory that keeps one-time code state")
        app[CODES] = codes

        async def verify(customer_id: str, method: str, code: str, by: str) -> str:
            """The engine's own verify.otp (the same lockout and limits as in a call)."""
            _, check = engine.operations.get("verify.otp")
            line = engine.config.service_line_for(None).name
            call = OperationCall(
                f"step-up-{by}", None, CallerIdTrust.UNKNOWN, customer_id, code,
                {"method": method}, service_line=line,
            )  # fmt: skip
            return (await check(call)).outcome

        tokens = ValidationTokens(env.token_signing_key())
        service = StepUpService(store, verify, tokens, notify or (lambda body: None))
        app[SERVICE] = service
        engine.operations.implement("stepup.answer", keypad_operation(service, engine.operations))
        probes["step_ups"] = _store_probe(store)
        yield
        if notify is not None:
            await notify.close()
        await db.close()

    return [secure, step_ups]


def secure_session_context(app: web.Application, serve: ServeSettings, agent_key: str) -> Context:
    """Mount the secure-session API now; its context tells the call pipeline where to report
    sessions that end (the agent desktop's webhook, the step-ups' URL and key)."""
    env = serve.env
    notify = _notifier(env, event="secure_session.settled", key="secure_session")
    api = SecureSessionApi(
        agent_key,
        lambda: app[CALLS],
        lambda: app[RUNTIME].engine.config,
        redirect=_twilio_redirect(serve),
        public_url=serve.public_url,
        notify=notify,
    )
    add_secure_routes(app, api)

    async def context(app: web.Application) -> AsyncIterator[None]:
        app[CALLS].secure_settled = api.settled
        yield
        if notify is not None:
            await notify.close()

    return context


def _twilio_redirect(serve: ServeSettings) -> TwilioRedirect | None:
    """Twilio calls are brought over by its REST API when the account is configured
    (config/callbacks.yaml's `dispatch.twilio`: IVR_TWILIO_ACCOUNT_SID, IVR_TWILIO_API_BASE)."""
    env = serve.env
    token = Settings.reveal(env.twilio_auth_token)
    if not token:
        return None
    twilio = callback_settings.load(
        serve.project.config, env, webhook_secret=serve.webhook_secret
    ).dispatch.twilio
    if not twilio.account_sid:
        _log.info("secure sessions: Twilio calls come over at their next event (no account SID)")
        return None
    return TwilioRedirect(twilio.account_sid, token, twilio.api_base)


def _notifier(env: Settings, **kinds: Any) -> WebhookNotifier | None:
    secret = Settings.reveal(env.stepup_webhook_secret)
    if env.stepup_webhook_url and not secret:
        raise ConfigError("IVR_STEPUP_WEBHOOK_URL needs IVR_STEPUP_WEBHOOK_SECRET to sign with")
    if env.stepup_webhook_url and secret:
        if kinds:
            kinds.setdefault("failures", SECURE_SESSION_WEBHOOK_FAILURES)
        return WebhookNotifier(env.stepup_webhook_url, secret, **kinds)
    return None


async def _prepare(codes: OneTimeCodes, customer_id: str, method: str, channel: str) -> None:
    """Refuse a challenge the customer cannot answer; send the code of a `sent` one."""
    if method == "totp":
        if not await codes.totp.is_enrolled(customer_id):
            raise StepUpRefused("the customer has no authenticator on file")
        return
    if codes.sent is None or codes.sent.provider is None:
        raise StepUpRefused("no code provider is configured")
    try:
        sent = await codes.sent.send(customer_id, channel)
    except ProviderError as error:
        raise Unavailable(f"code provider {error.reason}") from None
    if sent is SendResult.LIMITED:
        raise StepUpRefused("resend limit reached for this customer", status=429)
    if sent is SendResult.NOT_ENROLLED:
        raise StepUpRefused("no mobile number or app on file for the customer")


def _store_probe(store: StepUpStore) -> Callable[[], Any]:
    async def probe() -> dict[str, Any]:
        try:
            await store.ping()
        except Exception as error:
            return {"state": "down", "detail": type(error).__name__}
        return {"state": "ok"}

    return probe
