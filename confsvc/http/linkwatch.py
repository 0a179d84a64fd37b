"""A link's powers end at once: an expired or revoked invite closes its WebSockets.

A socket is opened with a link that is valid then; the link may expire or be revoked
while the socket stays open. Three things end it, whichever comes first:

- every message is checked (``ended``) before it is handled: a command sent after the
  moment gets the error (``expired`` or ``revoked``) and the socket closes;
- revocation: a hub event hook closes the link's sockets in the loop turn the
  ``invite.revoked`` event is folded (on this node, or learned from another);
- expiry: a sweep once a second (``SWEEP_S``) closes every socket whose link has expired,
  by the app's clock (``CLOCK``: tests pass their own, so nothing here sleeps in a test).

The close frame carries an application code and the reason, which the page shows:
4001 "this link has expired", 4003 "this link has been revoked" (``docs/protocol.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from confsvc.aio import cancel_and_wait
from confsvc.core.events import Event
from confsvc.core.roles import InviteError
from confsvc.http.keys import CLOCK, HUBS
from confsvc.service import Hub

if TYPE_CHECKING:
    from confsvc.http.wsconn import Connection

log = logging.getLogger(__name__)

SWEEP_S = 1.0


class LinkExpired(InviteError):
    code = "expired"


class LinkRevoked(InviteError):
    code = "revoked"


CLOSE_CODES = {"expired": 4001, "revoked": 4003}


def ended(conn: Connection, now: float) -> InviteError | None:
    """Why ``conn``'s link no longer works at ``now``, or ``None`` while it does."""
    if conn.principal.invite in conn.hub.state.revoked:
        return LinkRevoked("this link has been revoked")
    expires = getattr(conn, "expires", None)
    if expires is not None and now >= expires:
        return LinkExpired("this link has expired")
    return None


def end(conn: Connection, why: InviteError, msg_id: object = None) -> None:
    """Tell the connection why (an ``error``), then close it with the code and reason."""
    if conn.closed:
        return
    error: dict[str, object] = {"type": "error", **why.as_dict()}
    if msg_id is not None:
        error["id"] = msg_id
    conn.send(error)
    conn.flush()  # the error goes out before the close frame
    log.info("%r: %s; closing", conn, why.message)
    # The handler's exit awaits this same close (Connection.close).
    conn.start_close(CLOSE_CODES[why.code], why.message.encode())


def _connections(hub: Hub) -> list[Connection]:
    from confsvc.http.wsconn import Connection

    return [c for c in hub.listeners if isinstance(c, Connection)]


def _on_events(hub: Hub, events: list[Event]) -> None:
    revoked = {str(e.data.get("invite")) for e in events if e.type == "invite.revoked"}
    if not revoked:
        return
    for conn in _connections(hub):
        if conn.principal.invite in revoked:
            end(conn, LinkRevoked("this link has been revoked"))


async def _sweep(app: web.Application) -> None:
    while True:
        await asyncio.sleep(SWEEP_S)
        now = app[CLOCK]()
        for hub in app[HUBS].loaded():
            for conn in _connections(hub):
                why = ended(conn, now)
                if why is not None:
                    end(conn, why)


async def _ctx(app: web.Application) -> AsyncIterator[None]:
    hubs = app[HUBS]
    hubs.event_hooks.append(_on_events)
    sweeper = asyncio.create_task(_sweep(app), name="link-expiry-sweep")
    try:
        yield
    finally:
        await cancel_and_wait(sweeper)
        with contextlib.suppress(ValueError):
            hubs.event_hooks.remove(_on_events)


def setup(app: web.Application) -> None:
    """After the store context (it needs the hubs)."""
    app.cleanup_ctx.append(_ctx)
