"""The aiohttp application factory.

Every start/stop pair is one ``cleanup_ctx`` (store, bus, features). Features (media,
questions, mail, ...) plug in by explicit calls: ``confsvc.assembly.web_features()`` lists
each ``setup(app)``, which adds routes, WebSocket message handlers, role pages and
cleanup contexts of its own; ``create_app(features=[...])`` builds an app with others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web

from confsvc.aio import cancel_and_wait
from confsvc.bus import Bus, LocalBus
from confsvc.config import Config
from confsvc.core.agenda import parse_agenda
from confsvc.http import (
    api,
    invites,
    linkwatch,
    pages,
    requestid,
    security,
    server,
    static,
    ws,
)
from confsvc.http.forwarded import forwarded_middleware, parse_networks
from confsvc.http.i18n import I18n
from confsvc.http.keys import (
    CLOCK,
    CONFIG,
    HUBS,
    I18N,
    ROLE_PAGES,
    SECRET,
    SHUTDOWN,
    STORE,
    WS_CLOSE_HOOKS,
    WS_HANDLERS,
)
from confsvc.http.secret import signing_secret
from confsvc.http.shutdown import Shutdown
from confsvc.service import Hubs
from confsvc.store import describe, open_store
from confsvc.store.guarded import guard

log = logging.getLogger(__name__)


def create_app(
    config: Config,
    *,
    secret: bytes | None = None,
    clock: Callable[[], float] = time.time,
    features: Sequence[Callable[[web.Application], None]] | None = None,
) -> web.Application:
    """The app with ``features`` (default: ``confsvc.assembly.web_features()``)."""
    proxies = forwarded_middleware(parse_networks(config.trusted_proxies))
    app = web.Application(middlewares=[proxies], client_max_size=8 * 1024 * 1024)
    requestid.setup(app)
    app[CONFIG] = config
    app[CLOCK] = clock
    security.setup(app)  # every security header on every response, errors included
    server.setup(app, config)  # the per-address cap on anonymous connections
    app[SECRET] = secret if secret is not None else signing_secret(config)
    app[I18N] = I18n(base=config.base_path)
    app[WS_HANDLERS] = {}
    app[WS_CLOSE_HOOKS] = []
    app[SHUTDOWN] = Shutdown()
    # First of the on_shutdown steps: WebSockets get 1001 before features tear down.
    app.on_shutdown.append(app[SHUTDOWN].on_shutdown)
    app[ROLE_PAGES] = {}
    app.cleanup_ctx.append(_store_ctx)
    linkwatch.setup(app)  # expired or revoked links close their sockets at once
    app.router.add_get("/", pages.index, name="index")
    app.router.add_get("/j/{token}", pages.join, name="join")
    app.router.add_get("/c/{conference}/live", pages.live, name="live")
    app.router.add_get("/c/{conference}/ws", ws.websocket, name="ws")
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/readyz", api.readyz)
    app.router.add_get("/api/v1/openapi.json", api.openapi)
    app.router.add_get("/api/v1/conferences/{conference}/state", api.conference_state)
    static.setup(app)  # /static, /favicon.ico, Cache-Control and gzip
    invites.setup(app)
    if features is None:
        from confsvc.assembly import web_features

        features = web_features()
    for setup in features:
        setup(app)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG]
    store = guard(await open_store(cfg.db), cfg.store_timeout_s)
    bus: Bus
    if cfg.redis:
        from confsvc.bus.redis import RedisBus

        bus = RedisBus(cfg.redis)
    else:
        bus = LocalBus()
    await bus.start()
    app[STORE] = store
    hubs = Hubs(store, bus, clock=app[CLOCK], backlog_events=cfg.backlog_events)
    app[HUBS] = hubs
    log.info("store %s", describe(cfg.db))
    # Other processes (another node without a bus, ``confsvc invite``) may write too.
    poller = asyncio.create_task(hubs.poll(), name="hubs-poll")
    for path in cfg.agendas:
        agenda = parse_agenda(path.read_bytes())
        hub, what = await hubs.create_or_resume(agenda)
        log.info("%r: %s from %s", hub, what, path)
    try:
        yield
    finally:
        await cancel_and_wait(poller)
        await bus.close()
        await store.close()
