"""Typed aiohttp application keys of the web adapter and the hooks features register in.

Not every key is here: a feature declares the keys only it uses next to its setup
(``media/setup.py``: ``RELAY``, ``BOTS``; ``mail/setup.py``; ``questions/sse.py``;
``metrics.py``), as do ``http/security.py`` and ``http/server.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from confsvc.config import Config
from confsvc.core.roles import Role
from confsvc.http.shutdown import Shutdown
from confsvc.i18n import I18n
from confsvc.service import Hubs
from confsvc.store import EventStore

if TYPE_CHECKING:
    from confsvc.http.wsconn import Connection

WsHandler = Callable[["Connection", dict[str, Any]], Awaitable[None]]
PageRenderer = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", EventStore)
HUBS = web.AppKey("hubs", Hubs)
SECRET = web.AppKey("secret", bytes)
# The app's clock (seconds since the epoch): invite expiry, hubs. Tests pass their own.
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
I18N: web.AppKey[I18n] = web.AppKey("i18n")
# Extra WebSocket message types by feature (e.g. "rtc.offer" from confsvc.media).
WS_HANDLERS = web.AppKey("ws_handlers", dict[str, WsHandler])
# Called when a WebSocket connection closes (the media relay frees its peer).
WS_CLOSE_HOOKS = web.AppKey("ws_close_hooks", list[Callable[["Connection"], Awaitable[None]]])
# The open WebSockets and running commands, for SIGTERM (confsvc.http.shutdown).
SHUTDOWN = web.AppKey("shutdown", Shutdown)
# The token a WebSocket said hello with (confsvc.media.forward says it to the media home).
HELLO_TOKEN = web.RequestKey("hello_token", str)
# The page an invite link opens, by role.
ROLE_PAGES = web.AppKey("role_pages", dict[Role, PageRenderer])
