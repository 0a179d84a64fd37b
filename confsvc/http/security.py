"""Security headers on every response: pages, files, JSON, WebSocket handshakes, errors.

They are added in ``on_response_prepare``, which aiohttp runs for every response it
sends for this app — a handler's, a raised ``HTTPException`` (the router's own 404 and
405 included) and a static file — so no error path goes out without them (a middleware
only sees what handlers return). What each header is for: ``docs/security.md``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from confsvc.config import Config
from confsvc.http.keys import CONFIG


def content_security_policy(config: Config, *, inline_styles: bool = False) -> str:
    """The pages' policy: scripts only from our own files, never inline or eval'd.

    ``connect-src`` names the public origin's ws/wss too: 'self' covers WebSockets in
    current browsers (CSP 3), older ones need the scheme spelled out. ``inline_styles`` is
    for the report, one self-contained HTML file with its own <style> and SVG.
    """
    parts = urlsplit(config.base_url)
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    connect = f"'self' {ws_scheme}://{parts.netloc}" if parts.netloc else "'self'"
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {style}",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(config: Config) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(config),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=()",
    }
    if urlsplit(config.base_url).scheme == "https":
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    # setdefault: a handler's stricter choice stays (photos: default-src 'none').
    for name, value in request.app[_HEADERS].items():
        response.headers.setdefault(name, value)


_HEADERS: web.AppKey[dict[str, str]] = web.AppKey("security_headers")


def setup(app: web.Application) -> None:
    app[_HEADERS] = security_headers(app[CONFIG])
    app.on_response_prepare.append(_add_headers)
