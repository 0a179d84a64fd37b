"""Static files, the favicon, and how responses travel: caching and compression.

Owns ``/static/…`` (``web/static``), ``/favicon.ico``, the ``Cache-Control`` of static
files and gzip for text responses (pages, scripts, styles, JSON, SVG). Security headers
are ``confsvc.http.security``'s; the pages themselves are ``confsvc.http.pages``'.

Static URLs carry no version (ES modules import each other by plain relative paths, and
there is no build step to rewrite them), so they are ``no-cache``: the browser keeps
them and asks each time with ``If-None-Match``; an unchanged file costs a 304.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.web_response import ContentCoding

from confsvc.http.i18n import WEB_DIR

STATIC_DIR = WEB_DIR / "static"
FAVICON = STATIC_DIR / "favicon.ico"
STATIC_CACHE = "no-cache"
FAVICON_CACHE = "public, max-age=86400"
# Smaller bodies gain nothing from gzip (its header and a round of CPU cost more).
MIN_COMPRESS_BYTES = 1024
COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/manifest+json",
    "image/svg+xml",
)

CONDITIONAL = (hdrs.IF_NONE_MATCH, hdrs.IF_MODIFIED_SINCE, hdrs.IF_MATCH, hdrs.IF_UNMODIFIED_SINCE)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def favicon(request: web.Request) -> web.StreamResponse:
    """``/favicon.ico``: browsers ask for it at the root whatever the page says."""
    return web.FileResponse(FAVICON, headers={hdrs.CACHE_CONTROL: FAVICON_CACHE})


def _content_type(response: web.StreamResponse) -> str:
    if isinstance(response, web.FileResponse):
        # Guessed from the name as FileResponse itself will when it prepares.
        return mimetypes.guess_type(str(response._path))[0] or ""
    return response.content_type or ""


def _compressible(request: web.Request, response: web.StreamResponse) -> bool:
    if response.prepared or isinstance(response, web.WebSocketResponse):
        return False  # SSE streams and WebSockets are already under way
    if request.method == "HEAD" or response.status in (204, 304):
        return False  # no body to compress, and an empty gzip stream is not "no body"
    if "gzip" not in request.headers.get(hdrs.ACCEPT_ENCODING, "").lower():
        return False
    if hdrs.CONTENT_ENCODING in response.headers or hdrs.RANGE in request.headers:
        return False
    if not _content_type(response).startswith(COMPRESSIBLE):
        return False
    if isinstance(response, web.Response):
        body = response.body
        return isinstance(body, bytes | bytearray) and len(body) >= MIN_COMPRESS_BYTES
    if isinstance(response, web.FileResponse):
        if any(h in request.headers for h in CONDITIONAL):
            # FileResponse may answer 304 or 412, which must have no body, not even an
            # empty gzip stream; a revalidation that finds the file changed gets it plain.
            return False
        try:
            return response._path.stat().st_size >= MIN_COMPRESS_BYTES
        except OSError:
            return False  # FileResponse answers 404 itself
    return False


@web.middleware
async def delivery_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Cache-Control on static files; gzip on text responses when the client takes it."""
    response = await handler(request)
    route = request.match_info.route
    if route.resource is not None and route.resource.name == "static":
        response.headers.setdefault(hdrs.CACHE_CONTROL, STATIC_CACHE)
    if _content_type(response).startswith(COMPRESSIBLE) and not response.prepared:
        response.headers.setdefault(hdrs.VARY, hdrs.ACCEPT_ENCODING)
    if _compressible(request, response):
        response.enable_compression(ContentCoding.gzip)
    return response


def setup(app: web.Application) -> None:
    app.router.add_static("/static", STATIC_DIR, name="static")
    app.router.add_get("/favicon.ico", favicon, name="favicon")
    app.middlewares.append(delivery_middleware)
