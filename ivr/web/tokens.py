"""`POST /idv/tokens/verify`: a visual IVR checks the token the phone call handed over.

Answers 200 {valid: true, claims} or 4xx {valid: false, reason} with reason one of
`expired`, `tampered`, `wrong_audience`, `replayed`, `invalid` (401; replayed is 409) or
`malformed_request` (400). By default each token is accepted once: its `jti` is claimed in
the session store (memory or Redis, so every worker agrees) until the token expires. When the
store cannot say whether a token was used (Redis down), the answer is 503 `store_unavailable`
(try again), never 500 and never a second use. With the in-memory store, claims die with the
process: a token issued before the server's last start is refused as `replayed`, since its use
cannot be ruled out.
"""

from __future__ import annotations

import json
import time

from aiohttp import web

from ivr.calls import metrics
from ivr.sessions import SessionError
from ivr.tokens import TokenError, TokenIssuer
from ivr.web.keys import RUNTIME, SETTINGS, STORE

_REASONS = {"expired": "expired", "bad signature": "tampered", "wrong audience": "wrong_audience"}


def _refuse(reason: str, status: int) -> web.Response:
    metrics.TOKENS.labels(reason).inc()
    return web.json_response({"valid": False, "reason": reason}, status=status)


async def verify_token(request: web.Request) -> web.Response:
    try:
        doc = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON, or nested too deep
        return _refuse("malformed_request", 400)
    token = doc.get("token") if isinstance(doc, dict) else None
    if not isinstance(token, str) or not token or len(token) > 4096:
        return _refuse("malformed_request", 400)
    issuer: TokenIssuer | None = request.app[RUNTIME].engine.tokens
    if issuer is None:
        return _refuse("invalid", 401)
    try:
        claims = issuer.verify(token)
    except TokenError as error:
        return _refuse(_REASONS.get(error.reason, "invalid"), 401)
    if request.app[SETTINGS].tokens_once:
        ttl = float(claims["exp"]) - time.time()
        try:
            first = await request.app[STORE].claim(
                f"jti:{claims['jti']}", ttl, since=float(claims["iat"])
            )
        except SessionError:
            return _refuse("store_unavailable", 503)
        if not first:
            return _refuse("replayed", 409)
    metrics.TOKENS.labels("valid").inc()
    return web.json_response({"valid": True, "claims": claims})
