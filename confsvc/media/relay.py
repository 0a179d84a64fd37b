"""The media relay: every peer of this node, by conference, and how they forward.

A site publishes one audio and one video track; every connection subscribes to slots
(site, kind). Frames arrive already encoded (``aiortc_internals.tap_receiver``) and are
never decoded. Each frame is packetized once for its slot and written to every
subscriber's connection by ``confsvc.media.fanout`` (per subscriber: a header and SRTP
per packet, one system call per frame). What each subscriber is sent (the floor, the
keyframe gate, PLI throttling, the slot timeline) is ``confsvc.media.room``'s rule; one
connection's negotiation and close are ``confsvc.media.peer``'s.

What this module is not: signalling or authorisation of who may publish
(``signalling.py``, checked before a ``Peer`` is made). The ``Forwarding`` is
``fanout.Passthrough``; ``bench/relay.py`` registers two others
(``bench/relay_modes.py``: aiortc re-packetizing per subscriber, aiortc's ``MediaRelay``)
to measure them against it in the same run (``CONFSVC_RELAY_MODE``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from confsvc.config import Config
from confsvc.core.errors import RateLimited
from confsvc.media import aiortc_internals as internals
from confsvc.media.fanout import Forwarding, Passthrough
from confsvc.media.peer import Notify, Peer
from confsvc.media.room import Room, Timer

log = logging.getLogger(__name__)

# Relay.totals(): forwarded RTP packets and payload octets, RTX resends, NACKs that
# found nothing to resend, PLIs sent to publishers.
TOTALS = ("packets", "octets", "retransmits", "nacks_missed", "plis", "stalls", "refused")

# The forwardings ``Relay.named`` knows: this one, and what the bench registers.
FORWARDINGS: dict[str, Callable[[], Forwarding]] = {Passthrough.name: Passthrough}


def register_forwarding(name: str, make: Callable[[], Forwarding]) -> None:
    """Let ``CONFSVC_RELAY_MODE=name`` choose ``make()`` (``bench/relay_modes.py``)."""
    FORWARDINGS[name] = make


class LoopClock:
    """The rooms' ``room.Clock``: the running event loop's timers, ``time``'s clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)


class Relay:
    """Every peer of this node, by conference. Closed by the app's cleanup context."""

    def __init__(self, config: Config, *, forwarding: Forwarding | None = None) -> None:
        internals.check_version()
        internals.install_address_policy()
        self.config = config
        self.forwarding: Forwarding = forwarding if forwarding is not None else Passthrough()
        self.clock = LoopClock()
        self.rooms: dict[str, Room] = {}
        self.peers: dict[object, Peer] = {}
        self.max_peers = config.media_max_peers
        self.ice_timeout_s = config.ice_timeout_s
        self.on_sites_changed: Callable[[Room], None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        # What closed legs and feeds had counted, so ``totals`` never goes back.
        self.retired = dict.fromkeys(TOTALS, 0)
        log.info(
            "media relay: %s forwarding, subscribers' packets sent by %s",
            self.forwarding.name,
            "C (confsvc.media._wire)" if internals.NATIVE is not None else "Python",
        )

    @classmethod
    def named(cls, config: Config, mode: str) -> Relay:
        """A relay with the forwarding registered as ``mode``."""
        make = FORWARDINGS.get(mode)
        if make is None:
            raise ValueError(f"unknown relay mode {mode!r} (one of {', '.join(FORWARDINGS)})")
        return cls(config, forwarding=make())

    @property
    def mode(self) -> str:
        return self.forwarding.name

    def room(self, conference: str, floor: list[str]) -> Room:
        room = self.rooms.get(conference)
        if room is None:
            room = self.rooms[conference] = Room(
                conference,
                floor,
                clock=self.clock,
                forwarder=self.forwarding.forwarder,
                retired=self.retired,
            )
            room.on_sites_changed = self.on_sites_changed
        return room

    def hold(self, conference: str, floor: list[str], egress: object) -> Room:
        """The conference's room, kept while ``egress`` (``confsvc.media.egress``) is in it."""
        room = self.room(conference, floor)
        room.egresses.add(egress)
        return room

    def release(self, room: Room, egress: object) -> None:
        """``egress`` has left ``room`` (its taps already unsubscribed)."""
        room.egresses.discard(egress)
        if room.idle() and self.rooms.get(room.conference) is room:
            del self.rooms[room.conference]

    async def connect(
        self,
        *,
        key: object,
        conference: str,
        floor: list[str],
        label: str,
        notify: Notify,
        sdp: object,
        publish_site: str | None,
        subscribe: list[str],
        voice: tuple[str, str] | None = None,
        channel: bool = False,
    ) -> dict[str, Any]:
        """A new peer for ``key`` (one per WebSocket); an older one of the same key closes.

        ``voice`` (interpreter, channel) for an authorised interpreter; ``channel``: the
        peer gets a listener's channel track (``Peer.negotiate``)."""
        old = self.peers.get(key)
        if old is not None:
            await old.close("renegotiated: a new offer replaces the old connection")
        if len(self.peers) >= self.max_peers:
            raise RateLimited(f"the media relay is full ({self.max_peers} connections)")
        room = self.room(conference, floor)
        peer = Peer(self, room, key=key, label=label, notify=notify)
        self.peers[key] = peer
        room.peers.add(peer)
        try:
            return await peer.negotiate(
                sdp, publish_site=publish_site, subscribe=subscribe, voice=voice, channel=channel
            )
        except BaseException:
            await peer.close("negotiation failed")
            raise

    async def leave(self, key: object, reason: str = "left") -> bool:
        peer = self.peers.get(key)
        if peer is None:
            return False
        await peer.close(reason)
        return True

    def forget(self, peer: Peer) -> None:
        if self.peers.get(peer.key) is peer:
            del self.peers[peer.key]
        room = peer.room
        room.peers.discard(peer)
        if room.idle() and self.rooms.get(room.conference) is room:
            # Keep no empty rooms, but keep a room's floor (it is cheap to recompute).
            del self.rooms[room.conference]

    def closing(self, task: asyncio.Task[None]) -> None:
        """A peer closes itself in ``task`` (its connection failed): ``close`` awaits it."""
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def set_floor(self, conference: str, sites: list[str], decided_at: float | None) -> None:
        room = self.rooms.get(conference)
        if room is not None:
            room.set_floor(sites, decided_at)

    async def close(self) -> None:
        """Close every peer, await the closes already under way, then the forwarding's tasks."""
        for peer in list(self.peers.values()):
            await peer.close("the server is stopping")
        # Peer.close logs its own failures; a cancelled one has nothing more to await.
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self.forwarding.close()
        self.rooms.clear()

    def totals(self) -> dict[str, int]:
        """Counts since the relay started (``TOTALS``), closed connections included."""
        out = dict(self.retired)
        for room in self.rooms.values():
            for feed in room.feeds.values():
                out["plis"] += feed.plis
            for s in room.slots.values():
                for track in s.tracks:
                    track.count(out)
        return out

    def stats(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "peers": len(self.peers),
            "tracks": sum(len(s.tracks) for r in self.rooms.values() for s in r.slots.values()),
            "feeds": sum(len(r.feeds) for r in self.rooms.values()),
            "rooms": {cid: room.stats() for cid, room in self.rooms.items()},
        }
