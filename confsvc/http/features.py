"""What a web feature may add to the app, and the one way it adds each.

A feature is a ``setup(app)`` listed in ``confsvc.assembly.web_features()``; the web
adapter (``confsvc.http.app.create_app``) calls each once, in order, after its own
routes. In its ``setup`` a feature may:

- add routes (``app.router``) and lifecycle steps (``app.cleanup_ctx``,
  ``app.on_startup``, ``app.on_shutdown``), as aiohttp has them;
- handle a WebSocket message type (``handle_message``): ``confsvc.http.ws`` calls the
  handler with the connection and the message once the hello, the rate limit and the
  link's validity have been checked; the handler checks what the principal may do with
  ``confsvc.core.permissions`` and answers with ``conn.send``; a ``DomainError`` it
  raises reaches the client as an ``error`` message;
- be told when a WebSocket closes (``on_close``), to free what it held for it;
- render the page an invite link opens for a role (``role_page``);
- keep its own state under an ``aiohttp.web.AppKey`` declared next to its setup.

What a feature may read of the web adapter is named here too, and features import it
from here, never from ``confsvc.http.keys``, ``ws`` or ``wsconn``: the app's ``CONFIG``,
``HUBS``, ``STORE``, ``SECRET``, ``I18N`` and ``CLOCK``, and the ``Connection`` a
message handler is given (``send``, ``principal``, ``hub``, ``state``).

Each message type and each role's page belongs to one feature: a second claim is refused
at start-up, naming both, instead of one feature silently replacing the other's.
The keys read by ``ws.py`` and ``pages.py`` are in ``confsvc.http.keys``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from confsvc.core.roles import Role
from confsvc.http.keys import (
    CLOCK,
    CONFIG,
    HUBS,
    I18N,
    ROLE_PAGES,
    SECRET,
    STORE,
    WS_CLOSE_HOOKS,
    WS_HANDLERS,
    PageRenderer,
    WsHandler,
)
from confsvc.http.wsconn import Connection

__all__ = [
    "CLOCK",
    "CONFIG",
    "HUBS",
    "I18N",
    "SECRET",
    "STORE",
    "Connection",
    "FeatureClash",
    "handle_message",
    "on_close",
    "role_page",
]

# Message types the WebSocket itself handles (``confsvc.http.ws``).
BUILT_IN_MESSAGES = frozenset({"hello", "command", "ping"})


class FeatureClash(RuntimeError):
    """Two features claimed one message type or one role's page."""


def _owner(handler: object) -> str:
    return getattr(handler, "__module__", "?") + "." + getattr(handler, "__qualname__", "?")


def handle_message(app: web.Application, kind: str, handler: WsHandler) -> None:
    """Route WebSocket messages of type ``kind`` to ``handler``."""
    if kind in BUILT_IN_MESSAGES:
        raise FeatureClash(f"message type {kind!r} is the WebSocket's own ({_owner(handler)})")
    handlers = app[WS_HANDLERS]
    if kind in handlers:
        raise FeatureClash(
            f"message type {kind!r} is handled by {_owner(handlers[kind])} already;"
            f" {_owner(handler)} claims it too"
        )
    handlers[kind] = handler


def on_close(app: web.Application, hook: Callable[..., Awaitable[None]]) -> None:
    """Call ``hook(conn)`` when a WebSocket closes (after it left its hub's listeners)."""
    app[WS_CLOSE_HOOKS].append(hook)


def role_page(app: web.Application, role: Role, render: PageRenderer) -> None:
    """The page an invite link of ``role`` opens (``GET /j/<token>``)."""
    pages = app[ROLE_PAGES]
    if role in pages:
        raise FeatureClash(
            f"the {role.value} page is rendered by {_owner(pages[role])} already;"
            f" {_owner(render)} claims it too"
        )
    pages[role] = render
