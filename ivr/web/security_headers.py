"""Security headers on every response the server sends (reports, extracts, dashboard, JSON).

What each header stops, for a page that shows customer data:

- `Content-Security-Policy`: `default-src 'none'` for data (JSON, CSV, text), so a response
  opened as a page runs nothing; an HTML page (the dashboard, the flow view) runs scripts and
  styles from its own origin only, plus inline code it names by SHA-256 hash (the flow
  diagram's style, which the flow view inlines), never `'unsafe-inline'`, and fetches only from
  its own origin.
- `frame-ancestors 'none'` and `X-Frame-Options: DENY`: no other site frames the dashboard
  (clickjacking).
- `X-Content-Type-Options: nosniff`: a CSV or JSON body is never sniffed into HTML or script.
- `Cache-Control: no-store`: customer data stays out of browser and proxy caches. A response
  that sets its own `Cache-Control` (prompt audio for gateways) keeps it.
- `Referrer-Policy: no-referrer`: the dashboard's URL (it may carry the key as basic-auth
  credentials) never leaks to another site.
"""

from __future__ import annotations

import base64
import hashlib
import re

from aiohttp import web

from ivr.flow.svg import DIAGRAM_STYLE

DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


def page_policy(html: str = "") -> str:
    """The CSP of one of our pages: scripts and styles from its own origin and its inline ones
    by hash (the flow diagram's style among them), its own origin for fetch and EventSource,
    images from itself or `data:` (an empty favicon), nothing else."""
    sources: dict[str, list[str]] = {"script": ["'self'"], "style": ["'self'"]}
    for tag, body in _INLINE.findall(html):
        sources[tag].append(_hash(body))
    sources["style"].append(_hash(DIAGRAM_STYLE))
    script = " ".join(dict.fromkeys(sources["script"]))
    style = " ".join(dict.fromkeys(sources["style"]))
    return (
        f"default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


PAGE_POLICY = page_policy()


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: set each header the handler did not set itself."""
    headers = response.headers
    headers["Server"] = "ivr"  # not the framework's name and version
    for name, value in HEADERS.items():
        if name not in headers:
            headers[name] = value
    if "Content-Security-Policy" not in headers:
        html = response.content_type == "text/html"
        headers["Content-Security-Policy"] = PAGE_POLICY if html else DATA_POLICY


def protect(app: web.Application) -> None:
    """Add the headers to every response of `app` (errors and 404s included); idempotent."""
    if add_security_headers not in app.on_response_prepare:
        app.on_response_prepare.append(add_security_headers)
