"""Security headers on every response the server sends (reports, extracts, dashboard, JSON).

What each header stops, for a page that shows customer data:

- `Content-Security-Policy`: `default-src 'none'` for data (JSON, CSV, text), so a response
  opened as a page runs nothing; the dashboard allows only its own inline script and style, by
  their SHA-256 hashes (no `'unsafe-inline'`), and fetches only from its own origin.
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

DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": DATA_POLICY,
}
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def page_policy(html: str) -> str:
    """The CSP of a self-contained page: its inline scripts and styles by hash, its own origin
    for fetch and EventSource, `data:` images (an empty favicon), nothing else."""
    sources: dict[str, list[str]] = {"script": [], "style": []}
    for tag, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        sources[tag].append(f"'sha256-{digest}'")
    script = " ".join(sources["script"]) or "'none'"
    style = " ".join(sources["style"]) or "'none'"
    return (
        f"default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; "
        "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: set each header the handler did not set itself."""
    headers = response.headers
    for name, value in HEADERS.items():
        if name not in headers:
            headers[name] = value


def protect(app: web.Application) -> None:
    """Add the headers to every response of `app` (errors and 404s included); idempotent."""
    if add_security_headers not in app.on_response_prepare:
        app.on_response_prepare.append(add_security_headers)
