"""JSON API: health, conference state for the public, the OpenAPI description."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiohttp import web

from confsvc.core.errors import DomainError
from confsvc.core.events import Principal
from confsvc.core.roles import Role
from confsvc.http.keys import HUBS, STORE

PUBLIC = Principal(role=Role.PUBLIC, invite="public")


READY_TIMEOUT_S = 2.0  # a store or bus slower than this to answer is not ready


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves requests (nothing else is asked)."""
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when the store answers a query and the bus is connected, else 503
    with what is down and why: ``{"ready": false, "down": {"store": "…", "bus": "…"}}``."""
    app = request.app
    down: dict[str, str] = {}
    if STORE not in app or HUBS not in app:
        down["store"] = "not open yet"
    else:
        for name, ping in (("store", app[STORE].ping), ("bus", app[HUBS].bus.ping)):
            try:
                await asyncio.wait_for(ping(), READY_TIMEOUT_S)
            except TimeoutError:
                down[name] = f"no answer within {READY_TIMEOUT_S:g} s"
            except Exception as exc:  # whatever it is, the node is not ready: say what
                down[name] = str(exc) or type(exc).__name__
    down.update(_mail_down(app))
    if down:
        return web.json_response({"ready": False, "down": down}, status=503)
    return web.json_response({"ready": True})


def _mail_down(app: web.Application) -> dict[str, str]:
    """``{"smtp": …, "imap": …}`` for the mail parts that fail on confsvc's own settings
    or server (outbox held, IMAP session down), if the mail feature runs."""
    mod = sys.modules.get("confsvc.mail.setup")
    mail = app.get(mod.MAIL) if mod is not None else None
    if mail is None:
        return {}
    return {
        part: f"{h['state']}: {h.get('error') or 'unknown error'}"
        for part, h in mail.health().items()
        if h.get("state") in ("held", "down")
    }


async def conference_state(request: web.Request) -> web.Response:
    try:
        hub = await request.app[HUBS].get(request.match_info["conference"])
    except DomainError as exc:
        return web.json_response(exc.as_dict(), status=exc.status_hint)
    return web.json_response(
        {"conference": hub.id, "seq": hub.state.seq, "views": hub.snapshot(PUBLIC)}
    )


def spec() -> dict[str, Any]:
    """The OpenAPI description of every route (``confsvc.http.openapi``)."""
    from confsvc.http import openapi as described

    return described.spec()


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(spec())
