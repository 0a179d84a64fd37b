"""One browser's or bot's ``RTCPeerConnection`` on the relay: negotiate, watch, close.

A ``Peer`` answers one offer: sections the client sends become its site's ``SiteFeed``
(only for an authorised site), ``recvonly`` sections become subscriptions to slots, in
order. What is forwarded and when is the room's business (``confsvc.media.room``); how is
the ``Forwarding``'s (``confsvc.media.fanout``). The helpers here (``close_connection``,
``codec_preferences``, ``ice_configuration``) are shared with the bots.

What this module is not: signalling or authorisation (``signalling.py``, before a
``Peer`` is made), or the set of peers of a node (``relay.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from confsvc.aio import cancel_and_wait
from confsvc.core.errors import BadRequest, Forbidden
from confsvc.media import aiortc_internals as internals
from confsvc.media.channels import ChannelTrack, subscribe_channel
from confsvc.media.ice import ice_servers_for
from confsvc.media.offer import check_offer, filter_candidates, keep_codecs
from confsvc.media.room import Room, SiteFeed, VoiceFeed

if TYPE_CHECKING:
    from confsvc.media.relay import Relay

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0  # a pc.close() that stalls must not hold the relay's shutdown

Notify = Callable[[dict[str, Any]], None]
Voice = tuple[str, str]  # (interpreter id, the channel it speaks into)

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


# One entry per media section of the offer: (kind, the subscribed site, or None for the
# site's own track, or "" for an inactive section, or CHANNEL for the listener's channel).
Plan = list[tuple[str, str | None]]
CHANNEL = "*channel"  # no site id has a "*" (agenda.ID_PATTERN)


def plan_sections(
    sdp: object,
    subscribe: list[str],
    *,
    may_publish: bool,
    channel: bool = False,
    audio_only: bool = False,
) -> Plan:
    """Check the offer and match its sections: sending ones publish, ``recvonly`` ones
    take the next site of ``subscribe`` of their kind; with ``channel``, the first
    ``recvonly`` audio section past them is the listener's interpretation channel.
    ``audio_only``: the publisher (an interpreter) sends no video."""
    sections = check_offer(sdp, max_sections=2 + 2 * len(subscribe) + 2 + int(channel))
    sending = [s for s in sections if s.sends]
    if sending and not may_publish:
        raise Forbidden("only a site may send media; subscribe with recvonly sections")
    if audio_only and any(s.kind == "video" for s in sending):
        raise BadRequest("an interpreter publishes audio only, no video", field="sdp")
    for kind in ("audio", "video"):
        if sum(1 for s in sending if s.kind == kind) > 1:
            raise BadRequest(f"a site publishes at most one {kind} track", field="sdp")
    wanted: dict[str, list[str]] = {"audio": list(subscribe), "video": list(subscribe)}
    if channel:
        wanted["audio"].append(CHANNEL)
    plan: Plan = []
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
    return plan


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
        self.voice: VoiceFeed | None = None
        self.channel: ChannelTrack | None = None
        self.tracks: list[MediaStreamTrack] = []
        self.slots: dict[str, dict[str, Any]] = {}
        self.closed = False
        self.state = "new"
        self._published: list[Any] = []  # the receivers tapped for ``feed``
        self._plis: set[asyncio.Task[None]] = set()
        self._timeout: asyncio.TimerHandle | None = None
        self._closing: asyncio.Task[None] | None = None
        self.pc.on("connectionstatechange", self._on_state)

    def __repr__(self) -> str:
        return f"Peer({self.room.conference}, {self.label})"

    async def negotiate(
        self,
        sdp: object,
        *,
        publish_site: str | None,
        subscribe: list[str],
        voice: Voice | None = None,
        channel: bool = False,
    ) -> dict[str, Any]:
        """Answer the offer. ``publish_site`` is set only for an authorised site, ``voice``
        (interpreter, channel) only for an authorised interpreter; ``channel``: one more
        audio section, the listener's interpretation channel (``confsvc.media.channels``)."""
        cfg = self.relay.config
        plan = plan_sections(
            sdp,
            subscribe,
            may_publish=publish_site is not None or voice is not None,
            channel=channel,
            audio_only=voice is not None,
        )
        assert isinstance(sdp, str)
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
        publishing, subscribed = [], []
        for t, (kind, site) in zip(created, plan, strict=True):
            if site is None:
                publishing.append(t)
            elif site == "":
                t.direction = "inactive"
            elif site == CHANNEL:
                t.direction = "sendonly"
                self.channel = subscribe_channel(self.room, t.sender)
                self.tracks.append(self.channel)
                t.sender.replaceTrack(self.channel)
                subscribed.append((t, {"site": "", "kind": "audio", "channel": True}))
            else:
                t.direction = "sendonly"
                self._subscribe(t.sender, site, kind)
                subscribed.append((t, {"site": site, "kind": kind}))
        if publish_site is not None and publishing:
            self.feed = self._publish(publish_site, publishing)
        if voice is not None and publishing:
            self.voice = self._speak(voice, publishing[0])
        answer = await self.pc.createAnswer()
        with internals.local_addresses(cfg.ice_addresses), internals.local_ports(cfg.rtc_ports):
            await self.pc.setLocalDescription(answer)
        self.slots.update((str(t.mid), slot) for t, slot in subscribed)
        if self.feed is not None:
            await self._replace_older_feed(self.feed)
        if self.voice is not None:
            await self._replace_older(self.room.attach_voice(self.voice))
        self._timeout = asyncio.get_running_loop().call_later(
            self.relay.ice_timeout_s, self._on_timeout
        )
        return {"type": "rtc.answer", "sdp": self.pc.localDescription.sdp, "slots": self.slots}

    def _subscribe(self, sender: RTCRtpSender, site: str, kind: str) -> None:
        track = self.relay.forwarding.subscribe(self.room, site, kind, sender)
        self.tracks.append(track)
        sender.replaceTrack(track)
        internals.on_keyframe_request(sender, functools.partial(self.room.request_keyframe, site))

    def _publish(self, site: str, transceivers: list[Any]) -> SiteFeed:
        feed = SiteFeed(self.room, site, self)
        for t in transceivers:
            send_pli = self.relay.forwarding.publish(feed, t.receiver, t.kind)
            self._published.append(t.receiver)
            ssrc = _remote_ssrc(self.pc, t.mid) if send_pli is not None else None
            if send_pli is not None and ssrc is not None:
                feed.send_pli = functools.partial(self._send_pli_soon, send_pli, ssrc)
        return feed

    def _speak(self, voice: Voice, transceiver: Any) -> VoiceFeed:
        """The interpreter's audio, tapped encoded, into the room's ``VoiceFeed``."""
        feed = VoiceFeed(self.room, voice[0], voice[1], self)
        internals.tap_receiver(transceiver.receiver, feed.on_audio)
        self._published.append(transceiver.receiver)
        return feed

    async def _replace_older_feed(self, feed: SiteFeed) -> None:
        await self._replace_older(self.room.attach_feed(feed))

    async def _replace_older(self, replaced: Any) -> None:
        if replaced is not None:
            replaced.notify(
                {"type": "rtc.state", "state": "closed", "reason": "replaced by a newer connection"}
            )
            await replaced.close("replaced by a newer connection of the same site")

    def _send_pli_soon(self, send: Callable[[int], Any], ssrc: int) -> None:
        task = asyncio.ensure_future(self._send_pli(send, ssrc))
        self._plis.add(task)
        task.add_done_callback(self._plis.discard)

    async def _send_pli(self, send: Callable[[int], Any], ssrc: int) -> None:
        try:
            await send(ssrc)
        except Exception as exc:  # the publisher is going away: nothing to ask any more
            log.debug("%r: PLI not sent: %s", self, exc)

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
        """``close`` in a task of its own, which the relay's ``close`` awaits."""
        if self._closing is None and not self.closed:
            self._closing = asyncio.ensure_future(self.close(reason))
            self.relay.closing(self._closing)

    async def close(self, reason: str = "closed") -> None:
        """Idempotent: stop forwarding, free the slots and the feed, then close the pc."""
        if self.closed:
            return
        self.closed = True
        log.info("%r: closing (%s)", self, reason)
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None
        forwarding = self.relay.forwarding
        if self.feed is not None:
            self.room.detach_feed(self.feed)
        if self.voice is not None:
            self.room.detach_voice(self.voice)
        for receiver in self._published:
            forwarding.unpublish(receiver)
        self._published.clear()
        for task in list(self._plis):
            await cancel_and_wait(task)
        for track in self.tracks:
            forwarding.unsubscribe(self.room, track)
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
