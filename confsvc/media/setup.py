"""Plugging the media relay into the app: WebSocket handlers, close hook, site page,
floor hook and the relay's lifetime (``cleanup_ctx``)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from confsvc.core.floor import current_floor
from confsvc.core.roles import Role
from confsvc.http import features
from confsvc.http.i18n import render
from confsvc.http.keys import CONFIG, HUBS
from confsvc.http.pages import page_context
from confsvc.media.fanout import Passthrough
from confsvc.media.relay import Relay
from confsvc.media.signalling import (
    handle_config,
    handle_leave,
    handle_offer,
    sites_changed_notifier,
)

if TYPE_CHECKING:
    from confsvc.core.events import Event
    from confsvc.http.ws import Connection
    from confsvc.service import Hub

log = logging.getLogger(__name__)

RELAY = web.AppKey("media_relay", Relay)
# Clients started in the server's process (``confsvc demo --bots``): closed before the relay.
BOTS: web.AppKey[list[Any]] = web.AppKey("media_bots")
# Which registered forwarding the relay uses: bench/relay.py registers and sets
# "pack" and "reencode" (bench/relay_modes.py) to measure them in the same run.
MODE_ENV = "CONFSVC_RELAY_MODE"


def setup(app: web.Application) -> None:
    async def offer(conn: Connection, body: dict[str, Any]) -> None:
        await handle_offer(app[RELAY], conn, body)

    async def leave(conn: Connection, body: dict[str, Any]) -> None:
        await handle_leave(app[RELAY], conn, body)

    async def config(conn: Connection, body: dict[str, Any]) -> None:
        await handle_config(app[RELAY], conn, body)

    async def closed(conn: Connection) -> None:
        await app[RELAY].leave(conn, "the WebSocket closed")

    app[BOTS] = []
    features.handle_message(app, "rtc.offer", offer)
    features.handle_message(app, "rtc.leave", leave)
    features.handle_message(app, "rtc.config", config)
    features.on_close(app, closed)
    features.role_page(app, Role.SITE, site_page)
    app.cleanup_ctx.append(_relay_ctx)
    # Bots hold WebSockets to this very server: close them before aiohttp waits for those.
    app.on_shutdown.append(_close_bots)


async def _close_bots(app: web.Application) -> None:
    started: list[Any] = app[BOTS]
    bots = list(started)
    started.clear()
    results = await asyncio.gather(*(bot.close() for bot in bots), return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.warning("a bot did not close cleanly: %s", result)


async def site_page(request: web.Request, ctx: Any) -> web.StreamResponse:
    return render(
        request, "site.html", **page_context(request, ctx["hub"], ctx["invite"], ctx["token"])
    )


async def _relay_ctx(app: web.Application) -> AsyncIterator[None]:
    relay = Relay.named(app[CONFIG], os.environ.get(MODE_ENV, Passthrough.name))
    relay.on_sites_changed = sites_changed_notifier(app)
    app[RELAY] = relay

    def on_events(hub: Hub, events: list[Event]) -> None:
        # Same event-loop turn as the fold: the floor is gated before anyone hears more.
        if events:
            relay.set_floor(hub.id, current_floor(hub.state), events[-1].at)

    hubs = app[HUBS]
    hubs.event_hooks.append(on_events)
    try:
        yield
    finally:
        await _close_bots(app)
        if on_events in hubs.event_hooks:
            hubs.event_hooks.remove(on_events)
        await relay.close()
