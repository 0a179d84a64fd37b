"""The two relay modes only ``bench/relay.py`` uses, to measure them against the fan-out.

- ``pack``: aiortc's ``RTCRtpSender`` re-packetizes each frame for every subscriber (the
  relay's first design): each ``PackTrack`` queues ``av.Packet``s its sender reads.
- ``reencode``: aiortc's ``MediaRelay`` decodes each site once and encodes it again for
  every subscriber.

Both are ``confsvc.media.fanout.Forwarding``s; ``register()`` makes them selectable with
``CONFSVC_RELAY_MODE`` in the process that calls it (the bench's server child). The room's
rules (floor, keyframe gate) apply to ``pack`` as to the fan-out; ``reencode`` bypasses
the room, as aiortc's relay does (``tests/unit/test_bench_relay_modes.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from confsvc.aio import cancel_and_wait
from confsvc.core.errors import BadRequest
from confsvc.media import aiortc_internals as internals
from confsvc.media.aiortc_internals import EncodedPacket
from confsvc.media.fanout import ForwardTrack, Passthrough
from confsvc.media.relay import register_forwarding
from confsvc.media.room import Room, SiteFeed

QUEUE_FRAMES = 60  # ~2 s of video per subscriber before it is reset to a keyframe
CLOCK_RATE = {"video": 90000, "audio": 48000}


class PackTrack(ForwardTrack):
    """``pack``: ``recv()`` yields the slot's frames from a bounded queue to aiortc's sender."""

    def __init__(self, room: Room, site: str, kind: str) -> None:
        super().__init__(room, site, kind, None)
        self._queue: asyncio.Queue[EncodedPacket | None] = asyncio.Queue(QUEUE_FRAMES)

    def push(self, packet: EncodedPacket, keyframe: bool) -> None:
        if self.readyState != "live" or not self.gate.admit(keyframe):
            return
        try:
            self._queue.put_nowait(packet)
            self.gate.forwarded += 1
        except asyncio.QueueFull:
            # The subscriber fell behind: drop its backlog and restart it on a keyframe.
            self._drain()
            self.gate.dropped += QUEUE_FRAMES
            if self.gate.wait_for_keyframe():
                self.room.request_keyframe(self.site)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        self.first_read()
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


class PackForwarder:
    """``pack``'s ``room.Forwarder``: one ``av.Packet`` per frame, queued per subscriber."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def forward(self, data: bytes, pts: int, keyframe: bool, subscribers: Any) -> None:
        packet = internals.encoded_packet(data, pts, CLOCK_RATE[self.kind])
        for track in subscribers:
            track.push(packet, keyframe)


class Pack(Passthrough):
    name = "pack"

    def forwarder(self, kind: str) -> PackForwarder:
        return PackForwarder(kind)

    def subscribe(self, room: Room, site: str, kind: str, sender: RTCRtpSender) -> PackTrack:
        track = PackTrack(room, site, kind)
        room.subscribe(track)
        return track


class Reencode(Passthrough):
    name = "reencode"

    def __init__(self) -> None:
        self._relays: weakref.WeakKeyDictionary[Room, MediaRelay] = weakref.WeakKeyDictionary()
        self._remote: weakref.WeakKeyDictionary[SiteFeed, dict[str, MediaStreamTrack]] = (
            weakref.WeakKeyDictionary()
        )
        self._sinks: set[asyncio.Task[None]] = set()

    def _relay(self, room: Room) -> MediaRelay:
        return self._relays.setdefault(room, MediaRelay())

    def subscribe(self, room: Room, site: str, kind: str, sender: RTCRtpSender) -> MediaStreamTrack:
        feed = room.feeds.get(site)
        remote = self._remote.get(feed, {}) if feed is not None else {}
        if kind not in remote:
            raise BadRequest(f"re-encode mode: site {site!r} is not publishing yet")
        return self._relay(room).subscribe(remote[kind], buffered=False)

    def unsubscribe(self, room: Room, track: Any) -> None:
        return None  # aiortc's MediaRelay stops its proxies with the connection

    def publish(self, feed: SiteFeed, receiver: RTCRtpReceiver, kind: str) -> None:
        self._remote.setdefault(feed, {})[kind] = receiver.track
        self._sink(self._relay(feed.room).subscribe(receiver.track, buffered=False))

    def _sink(self, track: MediaStreamTrack) -> None:
        """Read a relayed track nobody watches (``MediaRelay`` decodes anyway)."""

        async def drain() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    await track.recv()

        task = asyncio.ensure_future(drain())
        self._sinks.add(task)
        task.add_done_callback(self._sinks.discard)

    async def close(self) -> None:
        for task in list(self._sinks):
            await cancel_and_wait(task)


def register() -> None:
    register_forwarding(Pack.name, Pack)
    register_forwarding(Reencode.name, Reencode)
