"""WebRTC signalling over the conference WebSocket (``rtc.*`` messages, docs/media.md).

Client → server: ``rtc.offer`` {sdp, publish, subscribe: [site ids]} and ``rtc.leave``.
Server → client: ``rtc.answer`` {sdp, slots: {mid: {site, kind}}, live}, ``rtc.state``
{state, reason}, and to everybody ``rtc.sites`` {live} when a site starts or stops.
Authorisation is ``confsvc.core.permissions``: watching needs ``WATCH`` (an invite link),
publishing ``PRESENT`` (a site link, and only as its own site).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from confsvc.core.errors import BadRequest, RateLimited
from confsvc.core.floor import current_floor
from confsvc.core.permissions import Permission, require
from confsvc.media.ice import ice_servers_for
from confsvc.service import dumps

if TYPE_CHECKING:
    from confsvc.http.ws import Connection
    from confsvc.media.relay import Relay
    from confsvc.media.room import Room
    from confsvc.service import Hub

log = logging.getLogger(__name__)


def _subscribe_list(body: dict[str, Any], sites: list[str]) -> list[str]:
    subscribe = body.get("subscribe", [])
    if not isinstance(subscribe, list) or not all(isinstance(s, str) for s in subscribe):
        raise BadRequest("subscribe must be a list of site ids", field="subscribe")
    for s in subscribe:
        if s not in sites:
            raise BadRequest(f"no site {s!r} in the agenda", field="subscribe")
    if len(set(subscribe)) != len(subscribe):
        raise BadRequest("subscribe lists a site twice", field="subscribe")
    return subscribe


async def handle_offer(relay: Relay, conn: Connection, body: dict[str, Any]) -> None:
    principal = conn.principal
    require(
        principal,
        Permission.WATCH,
        "public viewers watch the live page; media needs an invite link",
    )
    publish = body.get("publish", False)
    if not isinstance(publish, bool):
        raise BadRequest("publish must be true or false", field="publish")
    if publish:
        require(
            principal,
            Permission.PRESENT,
            f"role {principal.role.value} may not publish media; only a site may",
            field="publish",
        )
    agenda = conn.hub.state.require_agenda()
    subscribe = _subscribe_list(body, agenda.site_ids)
    limit = relay.config.max_connections_per_invite
    same = sum(
        1
        for key, peer in relay.peers.items()
        if key is not conn and peer.label.endswith(f"/{principal.identity}")
    )
    if same >= limit:
        raise RateLimited(f"this link already has {same} media connections (limit {limit})")
    answer = await relay.connect(
        key=conn,
        conference=conn.hub.id,
        floor=current_floor(conn.hub.state),
        label=f"{principal.role.value}:{principal.site or principal.actor}/{principal.identity}",
        notify=conn.send,
        sdp=body.get("sdp"),
        publish_site=principal.site if publish else None,
        subscribe=subscribe,
    )
    room = relay.rooms.get(conn.hub.id)
    answer["live"] = room.live_sites() if room is not None else []
    answer["floor"] = current_floor(conn.hub.state)
    if body.get("id") is not None:
        answer["id"] = body["id"]
    conn.send(answer)


async def handle_config(relay: Relay, conn: Connection, body: dict[str, Any]) -> None:
    """What a client needs before its offer: the sites (for ``subscribe``), ICE, bitrate."""
    agenda = conn.hub.state.require_agenda()
    room = relay.rooms.get(conn.hub.id)
    reply: dict[str, Any] = {
        "type": "rtc.config",
        "sites": [{"id": s.id, "name": dict(s.name)} for s in agenda.sites],
        "ice_servers": ice_servers_for(
            relay.config, f"{conn.hub.id}.{conn.principal.actor}", time.time()
        ),
        "max_video_kbps": relay.config.max_video_kbps,
        "live": room.live_sites() if room is not None else [],
        "floor": current_floor(conn.hub.state),
        "you": {"role": conn.principal.role.value, "site": conn.principal.site},
    }
    if body.get("id") is not None:
        reply["id"] = body["id"]
    conn.send(reply)


async def handle_leave(relay: Relay, conn: Connection, body: dict[str, Any]) -> None:
    left = await relay.leave(conn, "left")
    reply: dict[str, Any] = {"type": "rtc.state", "state": "closed", "reason": "left"}
    if not left:
        reply["reason"] = "no media connection"
    if body.get("id") is not None:
        reply["id"] = body["id"]
    conn.send(reply)


def sites_changed_notifier(app: web.Application) -> Any:
    from confsvc.http.keys import HUBS

    def notify(room: Room) -> None:
        hub: Hub | None = next((h for h in app[HUBS].loaded() if h.id == room.conference), None)
        if hub is None:
            return
        text = dumps({"type": "rtc.sites", "live": room.live_sites()})
        for listener in list(hub.listeners):
            listener.deliver(text)

    return notify
