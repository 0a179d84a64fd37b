"""Interpretation on the web: ``rtc.channel``, the interpreter's page, and the booths'
decisions reaching the relay.

- ``rtc.channel`` {channel: "pl" | null}: the listener's channel track (negotiated with
  ``rtc.offer`` ``channel: true``) takes its audio from that channel from the next frame
  on, or from none (the original only). Answered with ``rtc.channel`` {channel}.
- The interpreter link opens ``interpreter.html`` (static/js/interpreter.js).
- After every batch of events, the relay's room forwards each channel's on-air
  interpreter (``confsvc.core.interpretation.on_air``), in the same loop turn as the fold.

Who may speak is ``confsvc.core.permissions`` (``INTERPRET``) through the signalling;
who is live is the core's; this module only carries both to the media.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from confsvc.core.errors import BadRequest, InvalidState
from confsvc.core.interpretation import on_air
from confsvc.core.permissions import Permission, require
from confsvc.core.roles import Role
from confsvc.http import features
from confsvc.http.features import HUBS
from confsvc.http.i18n import render
from confsvc.http.pages import page_context

if TYPE_CHECKING:
    from confsvc.core.events import Event
    from confsvc.http.features import Connection
    from confsvc.media.relay import Relay
    from confsvc.service import Hub


def setup(app: web.Application) -> None:
    """After ``confsvc.media.setup`` (it reads the relay and the media homes' forwarder)."""
    from confsvc.media.setup import FORWARDER, RELAY

    async def channel(conn: Connection, body: dict[str, Any]) -> None:
        link = app[FORWARDER].links.get(conn)
        if link is not None:
            await app[FORWARDER].forward(conn, link.home, body)
        else:
            await handle_channel(app[RELAY], conn, body)

    features.handle_message(app, "rtc.channel", channel)
    features.role_page(app, Role.INTERPRETER, interpreter_page)
    app.cleanup_ctx.append(_booths_ctx)


async def handle_channel(relay: Relay, conn: Connection, body: dict[str, Any]) -> None:
    require(
        conn.principal,
        Permission.WATCH,
        "public viewers watch the live page; channels need an invite link",
    )
    wanted = body.get("channel")
    if wanted is not None and not isinstance(wanted, str):
        raise BadRequest("channel must be a channel's language or null", field="channel")
    interpretation = conn.hub.state.require_agenda().interpretation
    channels = interpretation.channels if interpretation is not None else []
    if wanted is not None and wanted not in channels:
        have = ", ".join(channels) or "none: the agenda has no interpretation"
        raise BadRequest(f"no channel {wanted!r} (channels: {have})", field="channel")
    peer = relay.peers.get(conn)
    if peer is None or peer.channel is None:
        raise InvalidState(
            "rtc.channel: this connection has no channel track; offer with channel: true first"
        )
    peer.channel.choose(wanted)
    reply: dict[str, Any] = {"type": "rtc.channel", "channel": wanted}
    if body.get("id") is not None:
        reply["id"] = body["id"]
    conn.send(reply)


async def interpreter_page(request: web.Request, ctx: Any) -> web.StreamResponse:
    return render(
        request,
        "interpreter.html",
        **page_context(request, ctx["hub"], ctx["invite"], ctx["token"]),
    )


async def _booths_ctx(app: web.Application) -> AsyncIterator[None]:
    from confsvc.media.setup import RELAY

    def on_events(hub: Hub, events: list[Event]) -> None:
        if not events:
            return
        room = app[RELAY].rooms.get(hub.id)
        if room is not None:
            room.set_interpretation(on_air(hub.state), events[-1].at)

    hubs = app[HUBS]
    hubs.event_hooks.append(on_events)
    try:
        yield
    finally:
        if on_events in hubs.event_hooks:
            hubs.event_hooks.remove(on_events)
