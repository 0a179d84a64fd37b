"""WebRTC signalling over the conference WebSocket (``rtc.*`` messages, docs/media.md).

Client → server: ``rtc.offer`` {sdp, publish, subscribe: [site ids], channel} and
``rtc.leave``. Server → client: ``rtc.answer`` {sdp, slots: {mid: {site, kind}}, live},
``rtc.state`` {state, reason}, and to everybody ``rtc.sites`` {live} when a site starts or
stops. ``channel: true`` asks for one more audio section, the listener's interpretation
channel (switched with ``rtc.channel``, ``confsvc.media.interpretation``).
Authorisation is ``confsvc.core.permissions``: watching needs ``WATCH`` (an invite link),
publishing ``PRESENT`` (a site link, and only as its own site) or ``INTERPRET`` (an
interpreter link: its audio only, into its own channel).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from confsvc.core.conference import ConferenceState
from confsvc.core.errors import BadRequest, Forbidden, RateLimited
from confsvc.core.events import Principal
from confsvc.core.floor import current_floor
from confsvc.core.interpretation import on_air
from confsvc.core.permissions import Permission, may, require
from confsvc.media.ice import ice_servers_for
from confsvc.service import dumps


def interpreter_voice(state: ConferenceState, principal: Principal) -> tuple[str, str] | None:
    """(interpreter, channel) an interpreter link publishes into; None for anybody else."""
    if not may(principal, Permission.INTERPRET) or principal.interpreter is None:
        return None
    agenda = state.require_agenda()
    me = agenda.interpretation.interpreter(principal.interpreter) if agenda.interpretation else None
    if me is None:
        raise Forbidden(
            f"interpreter {principal.interpreter!r} is not in the agenda: no channel to speak into",
            field="publish",
        )
    return (me.id, me.into)


if TYPE_CHECKING:
    from confsvc.http.features import Connection
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
    channel = body.get("channel", False)
    if not isinstance(channel, bool):
        raise BadRequest("channel must be true or false", field="channel")
    voice = interpreter_voice(conn.hub.state, principal) if publish else None
    if publish and voice is None:
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
        publish_site=principal.site if publish and voice is None else None,
        subscribe=subscribe,
        voice=voice,
        channel=channel,
    )
    room = relay.rooms.get(conn.hub.id)
    if room is not None:
        room.set_interpretation(on_air(conn.hub.state))
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
        "channels": agenda.interpretation.channels if agenda.interpretation else [],
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
    from confsvc.http.features import HUBS

    def notify(room: Room) -> None:
        hub: Hub | None = next((h for h in app[HUBS].loaded() if h.id == room.conference), None)
        if hub is None:
            return
        text = dumps({"type": "rtc.sites", "live": room.live_sites()})
        for listener in list(hub.listeners):
            listener.deliver(text)

    return notify
