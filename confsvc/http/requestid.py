"""The request middleware that gives every log line its request id and conference.

aiohttp runs each request in a task of its own, so the context variables set here hold
for the handler, the tasks it starts (a WebSocket's whole life included) and the access
log line, and for nothing else.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from confsvc.logs import conference_var, request_id_var

HEADER = "X-Request-ID"
# A proxy's id is kept only if it cannot forge log fields or carry a token's length.
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_for(given: str | None) -> str:
    """``given`` if it is a sane id, else a fresh one."""
    if given is not None and SANE_ID.fullmatch(given):
        return given
    return secrets.token_hex(8)


def setup(app: web.Application) -> None:
    """Install the middleware (outermost) and the response header."""
    app.middlewares.insert(0, request_context)
    app.on_response_prepare.append(_echo)


@web.middleware
async def request_context(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    rid = request_id_for(request.headers.get(HEADER))
    request_id_var.set(rid)
    conference_var.set(request.match_info.get("conference"))
    return await handler(request)


async def _echo(request: web.Request, response: web.StreamResponse) -> None:
    # Every response, WebSocket upgrades, event streams and errors included.
    # Runs in the request's task: the middleware's context variable is still set.
    rid = request_id_var.get()
    if rid is not None:
        response.headers[HEADER] = rid
