"""The media relay: one ``RTCPeerConnection`` per browser or bot, encoded frames passed through.

A site publishes one audio and one video track; every connection subscribes to slots
(site, kind). Frames arrive already encoded (``aiortc_internals.tap_receiver``) and are
never decoded. Each frame is packetized once for its slot and written to every
subscriber's connection by ``confsvc.media.fanout`` (per subscriber: a header and SRTP
per packet, one system call per frame). Video of every connected site goes to everyone; audio only
from the sites on the floor (``confsvc.core.floor.current_floor``, pushed in by
``on_events``).

Keyframes: a subscriber starts on a keyframe (gated, PLI to the publisher, throttled);
a subscriber's PLI/FIR is relayed to the publisher; a frame lost before the server gates
every subscriber of that site until the next keyframe.

What this module is not: signalling (``signalling.py``) or authorisation of who may
publish (checked there, before a ``Peer`` is made). ``MODE_PACK`` (aiortc re-packetizes
per subscriber, the first design) and ``MODE_REENCODE`` (aiortc's ``MediaRelay``) exist
only so ``bench/relay.py`` can measure them against the fan-out in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from confsvc.config import Config
from confsvc.core.errors import BadRequest, Forbidden, RateLimited
from confsvc.media import aiortc_internals as internals
from confsvc.media.aiortc_internals import EncodedPacket
from confsvc.media.fanout import Frame, Leg, Packetizer, fan_out
from confsvc.media.ice import ice_servers_for
from confsvc.media.offer import check_offer, filter_candidates, keep_codecs

log = logging.getLogger(__name__)

MODE_PASSTHROUGH = "passthrough"  # packetize once per frame (confsvc.media.fanout)
MODE_PACK = "pack"  # aiortc's RTCRtpSender re-packetizes per subscriber
MODE_REENCODE = "reencode"  # aiortc's MediaRelay: decode once, encode per subscriber
MODES = (MODE_PASSTHROUGH, MODE_PACK, MODE_REENCODE)
QUEUE_FRAMES = 60  # ~2 s of video per subscriber before it is reset to a keyframe
PLI_INTERVAL_S = 0.3
CLOSE_TIMEOUT_S = 5.0  # a pc.close() that stalls must not hold the relay's shutdown
# RTP ticks per frame, used to keep a slot's timeline moving forward across publishers.
_STEP = {"video": 3000, "audio": 960}
CLOCK_RATE = {"video": 90000, "audio": 48000}
# Relay.totals(): forwarded RTP packets and payload octets, RTX resends, NACKs that
# found nothing to resend, PLIs sent to publishers.
TOTALS = ("packets", "octets", "retransmits", "nacks_missed", "plis")


_closing: set[asyncio.Task[None]] = set()


async def close_connection(pc: RTCPeerConnection, timeout: float = CLOSE_TIMEOUT_S) -> None:
    """``pc.close()`` that neither a timeout nor a cancelled caller can break off.

    aiortc's ``close()`` awaits one future shared by every concurrent ``close()`` (its own
    runs when DTLS ends). Cancelling one caller cancels that future; the other ``close()``
    then fails with ``InvalidStateError``, leaving the connection half closed and kept
    alive by the logged traceback. aiohttp cancels the handler of a WebSocket whose
    client vanished, so that happened. Raises ``TimeoutError`` after ``timeout``; the
    close goes on in the background.
    """
    task = asyncio.ensure_future(pc.close())
    _closing.add(task)
    task.add_done_callback(_close_done)
    await asyncio.wait_for(asyncio.shield(task), timeout)


def _close_done(task: asyncio.Task[None]) -> None:
    _closing.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing a peer connection failed: %r", task.exception())


def codec_preferences(kind: str) -> list[Any]:
    """VP8 (+ RTX) for video, Opus for audio: forced on every leg."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    want = ("video/vp8", "video/rtx") if kind == "video" else ("audio/opus",)
    return [c for c in caps if c.mimeType.lower() in want]


def ice_configuration(servers: list[dict[str, object]]) -> RTCConfiguration:
    ice = []
    for s in servers:
        urls = s.get("urls")
        if not isinstance(urls, (str, list)):
            continue
        username = s.get("username")
        credential = s.get("credential")
        ice.append(
            RTCIceServer(
                urls=urls,
                username=username if isinstance(username, str) else None,
                credential=credential if isinstance(credential, str) else None,
            )
        )
    # max-bundle: aiortc's default (balanced) leaves the 2nd+ transceiver of a kind on a
    # transport that BUNDLE then stops, so their media never flows.
    return RTCConfiguration(iceServers=ice, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class ForwardTrack(MediaStreamTrack):
    """What one subscriber gets of one slot.

    With a ``leg`` (the default), frames are written for it by the slot's fan-out and
    ``recv()`` only tells when the sender has started (the connection is up). Without one
    (``MODE_PACK``), ``recv()`` yields ``EncodedPacket``s from a bounded queue and aiortc's
    sender packetizes them.
    """

    def __init__(self, room: Room, site: str, kind: str, leg: Leg | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.room = room
        self.site = site
        self.started = False
        self.need_keyframe = kind == "video"
        self.forwarded = 0
        self.dropped = 0
        self.leg = leg
        self._queue: asyncio.Queue[EncodedPacket | None] = asyncio.Queue(QUEUE_FRAMES)
        self._ended = asyncio.Event()

    def __repr__(self) -> str:
        return f"ForwardTrack({self.room.conference}, {self.site}, {self.kind})"

    def _admit(self, keyframe: bool) -> bool:
        """Started, live, and (for video) on a keyframe or past one."""
        if not self.started or self.readyState != "live":
            return False
        if self.need_keyframe:
            if not keyframe:
                self.dropped += 1
                return False
            self.need_keyframe = False
        return True

    def deliver(self, frame: Frame) -> None:
        """Fast path: the slot's fan-out hands over a frame packetized once for everyone."""
        leg = self.leg
        if leg is None or not leg.ready or not self._admit(frame.keyframe):
            return
        if leg.send(frame):
            self.forwarded += 1
        elif self.kind == "video":
            # Closed under us or the socket is backed up: resume on a keyframe.
            self.dropped += 1
            self.need_keyframe = True
            self.room.request_keyframe(self.site)

    def push(self, packet: EncodedPacket, keyframe: bool) -> None:
        """``MODE_PACK``: queue the frame for this subscriber's aiortc sender."""
        if not self._admit(keyframe):
            return
        try:
            self._queue.put_nowait(packet)
            self.forwarded += 1
        except asyncio.QueueFull:
            # The subscriber fell behind: drop its backlog and restart it on a keyframe.
            self._drain()
            self.dropped += QUEUE_FRAMES
            if self.kind == "video":
                self.need_keyframe = True
                self.room.request_keyframe(self.site)

    def gate(self) -> None:
        """Upstream loss: show nothing more until the next keyframe."""
        if self.kind == "video":
            self.need_keyframe = True

    async def recv(self) -> EncodedPacket:  # type: ignore[override,unused-ignore]
        if self.readyState != "live":
            raise MediaStreamError
        if not self.started:
            # The sender reads for the first time: the connection is up. Start on a keyframe.
            self.started = True
            if self.kind == "video":
                self.room.request_keyframe(self.site)
        if self.leg is not None:
            # The fan-out sends on this sender's behalf; its own loop just waits here.
            await self._ended.wait()
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._drain()
            self._queue.put_nowait(None)
            self._ended.set()


@dataclass
class Slot:
    """One (site, kind): who receives it, its packetizer, a timeline that never goes back."""

    packetizer: Packetizer
    tracks: set[ForwardTrack] = field(default_factory=set)
    last_pts: int = 0


class SiteFeed:
    """A site's published audio and video, tapped from its peer's receivers."""

    def __init__(self, room: Room, site: str, peer: Peer) -> None:
        self.room = room
        self.site = site
        self.peer = peer
        self.send_pli: Callable[[int], Any] | None = None
        self.video_ssrc: int | None = None
        self.receivers: list[Any] = []
        self.remote_tracks: dict[str, MediaStreamTrack] = {}
        self.frames = {"audio": 0, "video": 0}
        self.keyframes = 0
        self.losses = 0
        self.plis = 0
        self.started = time.monotonic()
        self._bases: dict[str, int | None] = {"audio": None, "video": None}
        self._last_pli = 0.0
        self._pli_timer: asyncio.TimerHandle | None = None
        self._pli_tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"SiteFeed({self.room.conference}, {self.site})"

    def _stamp(self, kind: str, timestamp: int) -> int:
        """The frame's time on the slot's timeline (a new publisher continues, not restarts)."""
        slot = self.room.slot(self.site, kind)
        base = self._bases[kind]
        if base is None:
            base = self._bases[kind] = slot.last_pts + _STEP[kind] - timestamp
        pts = timestamp + base
        slot.last_pts = pts
        return pts

    def on_audio(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        self.frames["audio"] += 1
        pts = self._stamp("audio", timestamp)
        if self.site in self.room.floor:
            self.room.forward(self.site, "audio", data, pts, True)

    def on_video(self, data: bytes, timestamp: int, keyframe: bool) -> None:
        self.frames["video"] += 1
        if keyframe:
            self.keyframes += 1
        pts = self._stamp("video", timestamp)
        self.room.forward(self.site, "video", data, pts, keyframe)

    def on_loss(self) -> None:
        """The jitter buffer dropped a frame before the server (aiortc sends a PLI itself)."""
        self.losses += 1
        self._last_pli = time.monotonic()
        for track in self.room.slot(self.site, "video").tracks:
            track.gate()

    def request_keyframe(self) -> None:
        """PLI to the publisher, at most one per ``PLI_INTERVAL_S`` (later ones are merged)."""
        if self.send_pli is None or self.video_ssrc is None or self._pli_timer is not None:
            return
        wait = self._last_pli + PLI_INTERVAL_S - time.monotonic()
        if wait > 0:
            self._pli_timer = asyncio.get_running_loop().call_later(wait, self._pli_now)
        else:
            self._pli_now()

    def _pli_now(self) -> None:
        self._pli_timer = None
        if self.send_pli is None or self.video_ssrc is None:
            return
        self._last_pli = time.monotonic()
        self.plis += 1
        task = asyncio.ensure_future(self._send_pli(self.send_pli, self.video_ssrc))
        self._pli_tasks.add(task)
        task.add_done_callback(self._pli_tasks.discard)

    async def _send_pli(self, send: Callable[[int], Any], ssrc: int) -> None:
        try:
            await send(ssrc)
        except Exception as exc:  # the publisher is going away: nothing to ask any more
            log.debug("%r: PLI not sent: %s", self, exc)

    def detach(self) -> None:
        if self._pli_timer is not None:
            self._pli_timer.cancel()
            self._pli_timer = None
        self.send_pli = None
        for receiver in self.receivers:
            internals.untap_receiver(receiver)
        self.receivers.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "video_frames": self.frames["video"],
            "audio_frames": self.frames["audio"],
            "keyframes": self.keyframes,
            "losses": self.losses,
            "plis": self.plis,
        }


class Room:
    """One conference's media: slots, the sites publishing, and the floor."""

    def __init__(self, relay: Relay, conference: str, floor: list[str]) -> None:
        self.relay = relay
        self.conference = conference
        self.floor: set[str] = set(floor)
        self.feeds: dict[str, SiteFeed] = {}
        self.slots: dict[tuple[str, str], Slot] = {}
        self.peers: set[Peer] = set()
        self.floor_changed_at: float | None = None
        self.floor_changes: list[dict[str, Any]] = []
        self.on_sites_changed: Callable[[Room], None] | None = None
        self.media_relay = MediaRelay() if relay.mode == MODE_REENCODE else None

    def __repr__(self) -> str:
        return f"Room({self.conference})"

    def slot(self, site: str, kind: str) -> Slot:
        key = (site, kind)
        s = self.slots.get(key)
        if s is None:
            s = self.slots[key] = Slot(Packetizer(kind))
        return s

    def forward(self, site: str, kind: str, data: bytes, pts: int, keyframe: bool) -> None:
        s = self.slots.get((site, kind))
        if s is None or not s.tracks:
            return
        if self.relay.mode == MODE_PACK:
            packet = internals.encoded_packet(data, pts, CLOCK_RATE[kind])
            for track in s.tracks:
                track.push(packet, keyframe)
            return
        fan_out(s.packetizer.frame(data, pts, keyframe), tuple(s.tracks))

    def request_keyframe(self, site: str) -> None:
        feed = self.feeds.get(site)
        if feed is not None:
            feed.request_keyframe()

    def set_floor(self, sites: list[str], decided_at: float | None = None) -> bool:
        new = set(sites)
        if new == self.floor:
            return False
        self.floor = new
        now = time.time()
        entry: dict[str, Any] = {"floor": sorted(new), "at": now}
        if decided_at is not None:
            # From the command's decision (the event's time) to audio gated here.
            entry["gate_ms"] = round((now - decided_at) * 1000, 2)
        self.floor_changes.append(entry)
        del self.floor_changes[:-50]
        log.info("%r: floor %s (%s ms after the decision)", self, sorted(new), entry.get("gate_ms"))
        return True

    def live_sites(self) -> list[str]:
        return sorted(self.feeds)

    def attach_feed(self, feed: SiteFeed) -> Peer | None:
        """Make ``feed`` the site's feed; return the peer it replaces (to be closed)."""
        old = self.feeds.get(feed.site)
        self.feeds[feed.site] = feed
        self._sites_changed()
        return old.peer if old is not None and old.peer is not feed.peer else None

    def detach_feed(self, feed: SiteFeed) -> None:
        self.relay.retired["plis"] += feed.plis
        feed.plis = 0
        feed.detach()
        if self.feeds.get(feed.site) is feed:
            del self.feeds[feed.site]
            self._sites_changed()

    def _sites_changed(self) -> None:
        if self.on_sites_changed is not None:
            try:
                self.on_sites_changed(self)
            except Exception:
                log.exception("%r: sites-changed hook failed", self)

    def remove_track(self, track: ForwardTrack) -> None:
        s = self.slots.get((track.site, track.kind))
        if s is not None:
            s.tracks.discard(track)
        if track.leg is not None:
            self.relay.retire_leg(track.leg)
        track.stop()

    def idle(self) -> bool:
        return not self.peers and not self.feeds

    def stats(self) -> dict[str, Any]:
        return {
            "floor": sorted(self.floor),
            "sites": {site: feed.stats() for site, feed in self.feeds.items()},
            "subscribers": {
                f"{site}/{kind}": len(s.tracks) for (site, kind), s in self.slots.items()
            },
            "floor_changes": self.floor_changes[-10:],
        }


Notify = Callable[[dict[str, Any]], None]


class Peer:
    """One browser's or bot's ``RTCPeerConnection``: what it publishes and subscribes to."""

    def __init__(
        self, relay: Relay, room: Room, *, key: object, label: str, notify: Notify
    ) -> None:
        self.relay = relay
        self.room = room
        self.key = key
        self.label = label
        self.notify = notify
        self.pc = RTCPeerConnection(
            ice_configuration(ice_servers_for(relay.config, f"relay.{label}", time.time()))
        )
        self.feed: SiteFeed | None = None
        self.tracks: list[ForwardTrack] = []
        self.slots: dict[str, dict[str, str]] = {}
        self.closed = False
        self.state = "new"
        self._timeout: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None
        self.pc.on("connectionstatechange", self._on_state)

    def __repr__(self) -> str:
        return f"Peer({self.room.conference}, {self.label})"

    async def negotiate(
        self, sdp: object, *, publish_site: str | None, subscribe: list[str]
    ) -> dict[str, Any]:
        """Answer the offer. ``publish_site`` is set only for an authorised site."""
        cfg = self.relay.config
        sections = check_offer(sdp, max_sections=2 + 2 * len(subscribe) + 2)
        assert isinstance(sdp, str)
        sending = [s for s in sections if s.sends]
        if sending and publish_site is None:
            raise Forbidden("only a site may send media; subscribe with recvonly sections")
        for kind in ("audio", "video"):
            if sum(1 for s in sending if s.kind == kind) > 1:
                raise BadRequest(f"a site publishes at most one {kind} track", field="sdp")
        wanted: dict[str, list[str]] = {"audio": list(subscribe), "video": list(subscribe)}
        plan: list[tuple[str, str | None]] = []  # (kind, subscribed site or None = publish)
        for s in sections:
            if s.sends:
                plan.append((s.kind, None))
            elif s.receives:
                if not wanted[s.kind]:
                    raise BadRequest(
                        f"media section {s.index} ({s.kind}) matches no site in subscribe",
                        field="subscribe",
                    )
                plan.append((s.kind, wanted[s.kind].pop(0)))
            else:
                plan.append((s.kind, ""))  # inactive: answered inactive
        offer = keep_codecs(filter_candidates(sdp, cfg.ice_addresses))
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        except Exception as exc:
            raise BadRequest(
                f"the offer was refused: {type(exc).__name__}: {str(exc)[:120]}", field="sdp"
            ) from None
        # setRemoteDescription made one transceiver per section, in order (pre-creating
        # them breaks aiortc's BUNDLE handling), each "recvonly" for now.
        created = self.pc.getTransceivers()
        if len(created) != len(plan):
            raise BadRequest("the offer's media sections could not be matched", field="sdp")
        transceivers = []
        for t, (kind, site) in zip(created, plan, strict=True):
            if site == "":
                t.direction = "inactive"
            elif site is not None:
                t.direction = "sendonly"
                t.sender.replaceTrack(self._subscribe(site, kind, t.sender))
                internals.on_keyframe_request(
                    t.sender, functools.partial(self.room.request_keyframe, site)
                )
            transceivers.append((t, kind, site))
        if publish_site is not None and sending:
            self.feed = self._publish(publish_site, [t for t, _k, s in transceivers if s is None])
        answer = await self.pc.createAnswer()
        with internals.local_addresses(cfg.ice_addresses), internals.local_ports(cfg.rtc_ports):
            await self.pc.setLocalDescription(answer)
        for t, kind, site in transceivers:
            if site:
                self.slots[str(t.mid)] = {"site": site, "kind": kind}
        if self.feed is not None:
            replaced = self.room.attach_feed(self.feed)
            if replaced is not None:
                replaced.notify(
                    {
                        "type": "rtc.state",
                        "state": "closed",
                        "reason": "replaced by a newer connection",
                    }
                )
                await replaced.close("replaced by a newer connection of the same site")
        self._timeout = asyncio.get_running_loop().call_later(
            self.relay.ice_timeout_s, self._on_timeout
        )
        return {"type": "rtc.answer", "sdp": self.pc.localDescription.sdp, "slots": self.slots}

    def _subscribe(self, site: str, kind: str, sender: RTCRtpSender) -> MediaStreamTrack:
        if self.room.media_relay is not None:
            feed = self.room.feeds.get(site)
            if feed is None or kind not in feed.remote_tracks:
                raise BadRequest(f"re-encode mode: site {site!r} is not publishing yet")
            return self.room.media_relay.subscribe(feed.remote_tracks[kind], buffered=False)
        leg = Leg(sender, kind) if self.relay.mode == MODE_PASSTHROUGH else None
        track = ForwardTrack(self.room, site, kind, leg)
        self.room.slot(site, kind).tracks.add(track)
        self.tracks.append(track)
        return track

    def _publish(self, site: str, receiving: list[Any]) -> SiteFeed:
        feed = SiteFeed(self.room, site, self)
        for t in receiving:
            receiver = t.receiver
            if self.room.media_relay is not None:
                feed.remote_tracks[t.kind] = receiver.track
                self.relay.sink(self.room.media_relay.subscribe(receiver.track, buffered=False))
                continue
            if t.kind == "video":
                feed.send_pli = internals.tap_receiver(receiver, feed.on_video, feed.on_loss)
                feed.video_ssrc = _remote_ssrc(self.pc, t.mid)
            else:
                internals.tap_receiver(receiver, feed.on_audio)
            feed.receivers.append(receiver)
        return feed

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if self.closed or state == self.state:
            return
        self.state = state
        log.info("%r: %s", self, state)
        if state == "connected":
            if self._timeout is not None:
                self._timeout.cancel()
                self._timeout = None
            self.notify({"type": "rtc.state", "state": "connected"})
        elif state in ("failed", "closed"):
            self.notify({"type": "rtc.state", "state": "failed", "reason": f"connection {state}"})
            self.close_soon(f"connection {state}")

    def _on_timeout(self) -> None:
        self._timeout = None
        if self.closed or self.pc.connectionState == "connected":
            return
        reason = f"the media connection did not connect within {self.relay.ice_timeout_s:g} s"
        self.notify({"type": "rtc.state", "state": "failed", "reason": reason})
        self.close_soon(reason)

    def close_soon(self, reason: str) -> None:
        if self._closing is None and not self.closed:
            self._closing = asyncio.ensure_future(self.close(reason))

    async def close(self, reason: str = "closed") -> None:
        """Idempotent: stop forwarding, free the slots and the feed, then close the pc."""
        if self.closed:
            return
        self.closed = True
        log.info("%r: closing (%s)", self, reason)
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        if self.feed is not None:
            self.room.detach_feed(self.feed)
        for track in self.tracks:
            self.room.remove_track(track)
        self.tracks.clear()
        self.relay.forget(self)
        for transceiver in self.pc.getTransceivers():
            internals.release_decoder(transceiver.receiver)
        try:
            await close_connection(self.pc)
        except TimeoutError:
            log.warning("%r: the peer connection did not close in %s s", self, CLOSE_TIMEOUT_S)
        except Exception:
            log.exception("%r: close failed", self)


def _remote_ssrc(pc: RTCPeerConnection, mid: str | None) -> int | None:
    """The publisher's media SSRC for ``mid`` (the first of an FID group), from its offer."""
    remote = pc.remoteDescription
    if remote is None:
        return None
    for media in internals.parse_sdp(remote.sdp).media:
        if media.rtp.muxId != mid:
            continue
        for group in media.ssrc_group:
            if group.semantic == "FID" and group.items:
                return int(group.items[0])
        if media.ssrc:
            return int(media.ssrc[0].ssrc)
    return None


class Relay:
    """Every peer of this node, by conference. Closed by the app's cleanup context."""

    def __init__(self, config: Config, *, mode: str = MODE_PASSTHROUGH) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown relay mode {mode!r} (one of {', '.join(MODES)})")
        internals.check_version()
        internals.install_address_policy()
        self.config = config
        self.mode = mode
        self.rooms: dict[str, Room] = {}
        self.peers: dict[object, Peer] = {}
        self.max_peers = config.media_max_peers
        self.ice_timeout_s = config.ice_timeout_s
        self.on_sites_changed: Callable[[Room], None] | None = None
        self._sinks: set[asyncio.Task[None]] = set()
        # What closed legs and feeds had counted, so ``totals`` never goes back.
        self.retired = dict.fromkeys(TOTALS, 0)

    def room(self, conference: str, floor: list[str]) -> Room:
        room = self.rooms.get(conference)
        if room is None:
            room = self.rooms[conference] = Room(self, conference, floor)
            room.on_sites_changed = self.on_sites_changed
        return room

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
    ) -> dict[str, Any]:
        """A new peer for ``key`` (one per WebSocket); an older one of the same key closes."""
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
            return await peer.negotiate(sdp, publish_site=publish_site, subscribe=subscribe)
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

    def set_floor(self, conference: str, sites: list[str], decided_at: float | None) -> None:
        room = self.rooms.get(conference)
        if room is not None:
            room.set_floor(sites, decided_at)

    def sink(self, track: MediaStreamTrack) -> None:
        """Re-encode mode: read a relayed track nobody watches (MediaRelay decodes anyway)."""

        async def drain() -> None:
            with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
                while True:
                    await track.recv()

        task = asyncio.ensure_future(drain())
        self._sinks.add(task)
        task.add_done_callback(self._sinks.discard)

    async def close(self) -> None:
        for peer in list(self.peers.values()):
            await peer.close("the server is stopping")
        for task in list(self._sinks):
            task.cancel()
        self.rooms.clear()

    def retire_leg(self, leg: Leg) -> None:
        r = self.retired
        r["packets"] += leg.packets
        r["octets"] += leg.octets
        r["retransmits"] += leg.retransmits
        r["nacks_missed"] += leg.nacks_missed
        leg.packets = leg.octets = leg.retransmits = leg.nacks_missed = 0

    def totals(self) -> dict[str, int]:
        """Counts since the relay started (``TOTALS``), closed connections included."""
        out = dict(self.retired)
        for room in self.rooms.values():
            for feed in room.feeds.values():
                out["plis"] += feed.plis
            for s in room.slots.values():
                for track in s.tracks:
                    leg = track.leg
                    if leg is not None:
                        out["packets"] += leg.packets
                        out["octets"] += leg.octets
                        out["retransmits"] += leg.retransmits
                        out["nacks_missed"] += leg.nacks_missed
        return out

    def stats(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "peers": len(self.peers),
            "tracks": sum(len(s.tracks) for r in self.rooms.values() for s in r.slots.values()),
            "feeds": sum(len(r.feeds) for r in self.rooms.values()),
            "rooms": {cid: room.stats() for cid, room in self.rooms.items()},
        }
