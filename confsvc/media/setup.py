"""Plugging the media relay into the app: WebSocket handlers, close hook, site page,
floor hook and the relay's lifetime (``cleanup_ctx``).

Every ``rtc.*`` message first asks ``MediaHomes.home_of`` where the conference's media
runs: here, the relay answers; elsewhere, ``forward.Forwarder`` passes it to the home.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from confsvc.core.errors import Unavailable
from confsvc.core.floor import current_floor
from confsvc.core.roles import Role
from confsvc.http import features
from confsvc.http.features import CONFIG, HUBS, STORE
from confsvc.http.i18n import render
from confsvc.http.pages import page_context
from confsvc.media.fanout import Passthrough
from confsvc.media.forward import Forwarder
from confsvc.media.home import Home, MediaHomes
from confsvc.media.relay import Relay
from confsvc.media.signalling import (
    handle_config,
    handle_leave,
    handle_offer,
    sites_changed_notifier,
)
from confsvc.store import StoreError

if TYPE_CHECKING:
    from confsvc.core.events import Event
    from confsvc.http.features import Connection
    from confsvc.service import Hub

log = logging.getLogger(__name__)

RELAY = web.AppKey("media_relay", Relay)
HOMES = web.AppKey("media_homes", MediaHomes)
FORWARDER = web.AppKey("media_forwarder", Forwarder)
# Clients started in the server's process (``confsvc demo --bots``): closed before the relay.
BOTS: web.AppKey[list[Any]] = web.AppKey("media_bots")
# Which registered forwarding the relay uses: bench/relay.py registers and sets
# "pack" and "reencode" (bench/relay_modes.py) to measure them in the same run.
MODE_ENV = "CONFSVC_RELAY_MODE"


def setup(app: web.Application) -> None:
    async def offer(conn: Connection, body: dict[str, Any]) -> None:
        home = await _home(app, conn)
        if home.mine:
            await handle_offer(app[RELAY], conn, body)
        else:
            await app[RELAY].leave(conn, "the conference's media home is another node")
            await app[FORWARDER].forward(conn, home, body)

    async def leave(conn: Connection, body: dict[str, Any]) -> None:
        if conn in app[FORWARDER].links:
            await app[FORWARDER].forward(conn, app[FORWARDER].links[conn].home, body)
        else:
            await handle_leave(app[RELAY], conn, body)

    async def config(conn: Connection, body: dict[str, Any]) -> None:
        home = await _home(app, conn)
        if home.mine:
            await handle_config(app[RELAY], conn, body)
        else:
            await app[FORWARDER].forward(conn, home, body)

    async def closed(conn: Connection) -> None:
        await app[FORWARDER].drop(conn)
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


async def _home(app: web.Application, conn: Connection) -> Home:
    """The conference's media home; a link to an old home is dropped when it moved here."""
    try:
        home = await app[HOMES].home_of(conn.hub.id)
    except StoreError as exc:
        raise Unavailable.keyed("media.home_unknown", reason=exc, retry_after=1.0) from None
    if home.mine:
        await app[FORWARDER].drop(conn)
    return home


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
    homes = app[HOMES] = MediaHomes(app[STORE], app[CONFIG])
    forwarder = app[FORWARDER] = Forwarder()

    async def lost(conference: str) -> None:
        # Another node is the home now: its clients reconnect there (through any node).
        for peer in [p for p in relay.peers.values() if p.room.conference == conference]:
            await peer.close("the media home moved to another node")

    homes.on_lost = lost
    await homes.start()

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
        await forwarder.close()
        await homes.close()  # leases given back first: clients find the new home at once
        await relay.close()
