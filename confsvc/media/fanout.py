"""Packetize each frame once; per subscriber only a header, SRTP and one ``sendto``.

aiortc's own path (``RTCRtpSender`` + ``Encoder.pack``) re-packetizes every frame for
every subscriber and builds, serializes and sends each packet through several layers of
coroutines: about 37 µs per packet per subscriber here. This module does the shared work
once per frame (VP8 payload descriptors with one picture id, the NTP clock, the
abs-send-time value) and, per subscriber, writes a 12-byte header and a prebuilt
header-extension block in front of the shared payload, then hands it to ``Wire``
(SRTP + ``sendto`` on the nominated ICE pair). ``MEDIA-NOTES.md`` has the measurements.

What each subscriber's ``RTCRtpSender`` still does itself: DTLS, RTCP sender reports (fed
with our counts by ``SenderHooks.account``) and its RTCP handlers: receiver reports,
PLI/FIR (through ``on_keyframe_request``) and NACK (through ``Leg.retransmit``), run by
``internals.RtcpReader`` straight from the socket's callback, REMB left out. Every private aiortc name is in
``aiortc_internals``.

A frame goes to at most ``YIELD_EVERY`` subscribers per loop turn: a keyframe to hundreds
of subscribers must not hold the event loop (WebSockets, other sites' audio) for tens of
milliseconds. Order per subscriber is kept: continuations run FIFO.

The forwarding the relay plugs into a room (``room.Forwarder``, ``room.Subscriber``):
``SlotFanout`` per slot, ``ForwardTrack`` per subscriber (it keeps the subscriber's
``KeyframeGate``, the rules are in ``confsvc.media.room``), and ``Passthrough``, the
``Forwarding`` that makes them and taps a publisher's receivers. The two other ways
``bench/relay.py`` measures (aiortc re-packetizing per subscriber, aiortc's
``MediaRelay``) are ``Forwarding``s too, in ``bench/relay_modes.py``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc import MediaStreamTrack, RTCRtpReceiver, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpSendParameters

from confsvc.media import aiortc_internals as internals
from confsvc.media.room import KeyframeGate, Room, SiteFeed

log = logging.getLogger(__name__)

HISTORY_FRAMES = 128  # frames kept per video subscriber for NACK (power of two; ~4 s at 30 fps)
_FRAME_MASK = HISTORY_FRAMES - 1
YIELD_EVERY = 32
SYNC_EVERY = 16  # frames of a slot between folding its C senders' counts in (sender reports)
_NATIVE_FAN_OUT: Callable[..., Sequence[int]] | None = getattr(internals.NATIVE, "fan_out", None)
_NTP_EPOCH = 2208988800  # 1900-01-01 to 1970-01-01, in seconds
_HEADER = struct.Struct("!BBHII")
_SEQ = struct.Struct("!H")
_U32 = struct.Struct("!I")
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
MIME = {"video": "video/vp8", "audio": "audio/opus"}


def ntp_now() -> int:
    """Now as a 64-bit NTP timestamp (what RTCP sender reports carry)."""
    return int((time.time() + _NTP_EPOCH) * (1 << 32))


@dataclass(slots=True)
class Frame:
    """One encoded frame, packetized once, shared by every subscriber of its slot."""

    payloads: list[bytes]
    timestamp: int  # RTP ticks on the slot's timeline (before each subscriber's offset)
    keyframe: bool
    ntp: int
    abs_send_time: bytes  # 3 bytes, 6.18 fixed-point seconds (webrtc abs-send-time)
    size: int  # payload octets
    data: bytes = b""  # the frame as published, for egresses that write it (egress.Tap)


class Packetizer:
    """One slot's packetizer: a single picture-id sequence for every subscriber."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.picture_id = random.randint(0, (1 << 15) - 1)

    def frame(self, data: bytes, timestamp: int, keyframe: bool) -> Frame:
        if self.kind == "video":
            payloads = internals.vp8_packetize(data, self.picture_id)
            self.picture_id = (self.picture_id + 1) & 0x7FFF
        else:
            payloads = [data]
        ntp = ntp_now()
        ast = ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")
        size = sum(map(len, payloads))
        return Frame(payloads, timestamp & 0xFFFFFFFF, keyframe, ntp, ast, size, data)


class Leg:
    """RTP state of one subscriber's sender on the fast path (sequence numbers, history)."""

    __slots__ = (
        "_ext",
        "frames",
        "history",
        "hooks",
        "kind",
        "nacks_missed",
        "native",
        "native_path",
        "octets",
        "packets",
        "payload_type",
        "ready",
        "refused",
        "retransmits",
        "rtcp",
        "rtx_payload_type",
        "rtx_seq",
        "rtx_ssrc",
        "seq",
        "ssrc",
        "stalls",
        "ts_origin",
        "wire",
    )

    def __init__(self, sender: RTCRtpSender, kind: str) -> None:
        self.kind = kind
        self.hooks = internals.SenderHooks(sender, self.configure, self.retransmit)
        self.wire = internals.Wire(sender)
        self.ready = False
        self.payload_type = 0
        self.rtx_payload_type: int | None = None
        self.ssrc = self.hooks.ssrc
        self.rtx_ssrc = self.hooks.rtx_ssrc
        self._ext = b""
        # Lower half, as aiortc does: some receivers mishandle an early wrap-around.
        self.seq = random.randint(0, 0x7FFF)
        self.rtx_seq = random.randint(0, 0x7FFF)
        self.ts_origin = random.getrandbits(32)
        # Per frame sent: (first sequence number, RTP timestamp, payloads shared with the
        # other viewers); ``frames`` counts them (the next slot is ``frames & _FRAME_MASK``).
        self.history: list[tuple[int, int, list[bytes]] | None] = [None] * HISTORY_FRAMES
        self.frames = 0
        self.packets = 0
        self.octets = 0  # payload octets sent, as RTCP sender reports count them
        self.retransmits = 0
        self.nacks_missed = 0
        self.stalls = 0  # frames not sent: the connection could not take them
        self.refused = 0  # datagrams the kernel refused (socket buffer full, route gone)
        self.rtcp: internals.RtcpReader | None = None
        # While armed (``arm``), the C ``_wire.Sender`` that ``_wire.fan_out`` sends this
        # leg's frames through: it then holds ``seq`` and ``frames`` (``sync`` copies them
        # back) and counts what it sent until ``sync`` folds that in here.
        self.native: Any = None
        self.native_path: internals.Path | None = None

    def read_rtcp(self) -> None:
        """Once the connection is up: its RTCP is read in the socket's callback, REMB left
        out (the fan-out adapts no bitrate). ``internals.RtcpReader`` says why."""
        if self.rtcp is None:
            self.rtcp = internals.read_rtcp_fast(self.hooks.sender.transport, drop_remb=True)

    def configure(self, parameters: RTCRtpSendParameters) -> None:
        """The negotiated codec and header extensions (from the sender's ``send()``)."""
        if not parameters.codecs:
            log.error("leg(%s): no codec negotiated", self.kind)
            return
        primary = parameters.codecs[0]
        if primary.mimeType.lower() != MIME[self.kind]:
            log.error(
                "leg(%s): negotiated %s, can only forward %s",
                self.kind,
                primary.mimeType,
                MIME[self.kind],
            )
            return
        self.payload_type = int(primary.payloadType or 0)
        for codec in parameters.codecs:
            if (
                codec.mimeType.lower().endswith("/rtx")
                and codec.parameters.get("apt") == primary.payloadType
            ):
                self.rtx_payload_type = codec.payloadType
        self._ext = self._extensions(parameters)
        self.ready = True

    @staticmethod
    def _extensions(parameters: RTCRtpSendParameters) -> bytes:
        """The RFC 8285 one-byte header extension block every packet carries: ``mid``.

        Not abs-send-time, even where negotiated: it only feeds the receiver's bitrate
        estimate, sent back as REMB, and the fan-out adapts no bitrate. Without it an
        aiortc viewer sends no REMB at all (one every 200 ms, or one a packet while it
        sees overuse), and the block is the same for every packet.
        """
        mid = (parameters.muxId or "").encode()
        for ext in parameters.headerExtensions:
            if ext.uri == MID_URI and mid and 0 < ext.id < 15 and len(mid) <= 16:
                body = bytes([(ext.id << 4) | (len(mid) - 1)]) + mid
                body += b"\x00" * (-len(body) % 4)
                return b"\xbe\xde" + _SEQ.pack(len(body) // 4) + body
        return b""

    def send(self, frame: Frame) -> bool:
        """Send ``frame``; ``False`` if the connection cannot take it now (not sent at all)."""
        path = self.wire.prepare()
        if path is None:
            self.stalls += 1
            return False
        ext = self._ext
        ts = (self.ts_origin + frame.timestamp) & 0xFFFFFFFF
        seq = self.seq
        payloads = frame.payloads
        n = len(payloads)
        if self.rtx_payload_type is not None:
            # What RTX can resend: one entry a frame (the payloads every viewer shares).
            self.history[self.frames & _FRAME_MASK] = (seq, ts, payloads)
            self.frames += 1
        self.refused += path.send_rtp(
            0x90 if ext else 0x80, self.payload_type, seq, ts, self.ssrc, ext, payloads
        )
        self.seq = (seq + n) & 0xFFFF
        self.packets += n
        self.octets += frame.size
        self.hooks.account(n, frame.size, ts, frame.ntp)
        return True

    def arm(self) -> Any:
        """After a ``send`` that went out: the C ``Sender`` that carries the next frames, or
        ``None`` where there is none (no ``_wire``, TURN, a scoped IPv6 peer)."""
        if self.native is not None:
            return self.native
        path = self.wire.path
        if path is None:
            return None
        native = path.native_sender(
            0x90 if self._ext else 0x80,
            self.payload_type,
            self.ssrc,
            self._ext,
            self.ts_origin,
            self.seq,
            self.frames,
            self.history if self.rtx_payload_type is not None else None,
        )
        if native is None:
            return None
        native.armed = True
        self.native, self.native_path = native, path
        return native

    def sync(self) -> int:
        """Fold what the armed ``Sender`` sent since the last call into this leg, its
        aiortc sender's report counters and its path; returns the frames it sent."""
        native = self.native
        if native is None:
            return 0
        seq, frames, packets, octets, wire_octets, refused, sent, ts, ntp = native.take()
        self.seq, self.frames = seq, frames
        if sent:
            self.packets += packets
            self.octets += octets
            self.refused += refused
            self.hooks.account(packets, octets, ts, ntp)
            if self.native_path is not None:
                self.native_path.note_sent(packets, wire_octets, refused)
        return int(sent)

    def disarm(self) -> int:
        """Back to ``send`` (Python's per-frame path); returns the frames the C one sent."""
        native = self.native
        if native is None:
            return 0
        native.armed = False
        sent = self.sync()
        self.native = self.native_path = None
        return sent

    def _find(self, sequence_number: int) -> tuple[bytes, bytes] | None:
        """(header with extensions, payload) of a packet still in history, newest first."""
        history = self.history
        frames = self.frames
        for back in range(1, min(frames, HISTORY_FRAMES) + 1):
            entry = history[(frames - back) & _FRAME_MASK]
            if entry is None:
                return None
            first_seq, ts, payloads = entry
            index = (sequence_number - first_seq) & 0xFFFF
            if index < len(payloads):
                marker = 0x80 if index == len(payloads) - 1 else 0
                first = 0x90 if self._ext else 0x80
                head = (
                    _HEADER.pack(first, self.payload_type | marker, sequence_number, ts, self.ssrc)
                    + self._ext
                )
                return head, payloads[index]
        return None

    def retransmit(self, sequence_number: int) -> None:
        """A NACK: resend from history as RTX (RFC 4588); without RTX, SRTP forbids a resend."""
        self.sync()  # the armed Sender's frame count: where its history ends
        found = self._find(sequence_number) if self.rtx_payload_type is not None else None
        if found is None or self.rtx_payload_type is None:
            self.nacks_missed += 1
            return
        path = self.wire.prepare()
        if path is None:
            return
        head, payload = found
        rtx = (
            bytes([head[0], (head[1] & 0x80) | self.rtx_payload_type])
            + _SEQ.pack(self.rtx_seq)
            + head[4:8]
            + _U32.pack(self.rtx_ssrc)
            + head[12:]
            + _SEQ.pack(sequence_number)
            + payload
        )
        self.rtx_seq = (self.rtx_seq + 1) & 0xFFFF
        path.send_one(path.protect(rtx))
        self.retransmits += 1


class Subscriber(Protocol):
    def deliver(self, frame: Frame) -> None: ...


def fan_out(
    frame: Frame,
    subscribers: Sequence[Subscriber],
    start: int = 0,
    call_soon: Callable[..., object] | None = None,
) -> None:
    """``frame`` to every subscriber, ``YIELD_EVERY`` per loop turn (the rest queued, FIFO).

    With ``_wire``, one C call sends it to every subscriber whose ``fast`` ``Sender`` is
    armed and returns the others, which get it through their own ``deliver``.
    """
    end = min(start + YIELD_EVERY, len(subscribers))
    rest: Sequence[int] = range(start, end)
    if _NATIVE_FAN_OUT is not None and isinstance(subscribers, (tuple, list)):
        rest = _NATIVE_FAN_OUT(
            subscribers, start, end, frame.payloads, frame.timestamp, frame.size, frame.ntp
        )
    for i in rest:
        try:
            subscribers[i].deliver(frame)
        except Exception:  # one broken connection must not starve the others
            log.exception("fan-out to %r failed", subscribers[i])
    if end < len(subscribers):
        soon = call_soon or asyncio.get_running_loop().call_soon
        soon(fan_out, frame, subscribers, end, soon)


class SlotFanout:
    """One slot's ``room.Forwarder``: each frame packetized once, then ``fan_out``."""

    def __init__(self, kind: str) -> None:
        self.packetizer = Packetizer(kind)
        self.frames = 0

    def forward(self, data: bytes, pts: int, keyframe: bool, subscribers: Sequence[Any]) -> None:
        self.frames += 1
        if not self.frames % SYNC_EVERY:
            # aiortc's sender reports (about one a second) read the counts a leg keeps:
            # what the C senders sent reaches them here, at most SYNC_EVERY frames late.
            for subscriber in subscribers:
                if isinstance(subscriber, ForwardTrack):
                    subscriber.sync()
        fan_out(self.packetizer.frame(data, pts, keyframe), subscribers)


class ForwardTrack(MediaStreamTrack):
    """What one subscriber gets of one slot: the slot's fan-out writes its frames to ``leg``.

    ``recv()`` never returns a frame: aiortc's sender calls it once its connection is up
    (the gate starts, and video asks the site for a keyframe), then waits until the track
    stops. ``leg`` is ``None`` only for the bench's ``pack`` mode (``bench/relay_modes.py``).

    Once a frame went out through ``Leg.send`` on a plain UDP path, ``fast`` is the leg's
    armed C ``Sender`` and ``fan_out`` sends the next frames itself, without ``deliver``;
    a gap upstream (the gate waits for a keyframe), a connection it finds unusable and
    ``stop`` hand the frames back to ``deliver``.
    """

    fast: Any = None  # leg's armed C Sender (``_wire.Sender``), or None

    def __init__(self, room: Room, site: str, kind: str, leg: Leg | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.room = room
        self.site = site
        self.gate = KeyframeGate(kind)
        self.leg = leg
        self.fast = None
        self.gate.on_gap = self._hold
        self._ended = asyncio.Event()

    def __repr__(self) -> str:
        return f"ForwardTrack({self.room.conference}, {self.site}, {self.kind})"

    def deliver(self, frame: Frame) -> None:
        """The slot's fan-out hands over a frame packetized once for everyone."""
        leg = self.leg
        if leg is None:
            return
        if self.fast is not None:  # the C fan-out found the connection unusable: back here
            self._hold()
        if not leg.ready or self.readyState != "live":
            return
        if not self.gate.admit(frame.keyframe):
            return
        if leg.send(frame):
            self.gate.forwarded += 1
            if self.readyState == "live":
                self.fast = leg.arm()
        elif self.gate.wait_for_keyframe():
            # Closed under us or the socket is backed up: resume on a keyframe.
            self.gate.dropped += 1
            self.room.request_keyframe(self.site)

    def first_read(self) -> None:
        """The sender reads for the first time: the connection is up."""
        if self.leg is not None:
            self.leg.read_rtcp()
        if self.gate.start():
            self.room.request_keyframe(self.site)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        self.first_read()
        # The fan-out sends on this sender's behalf; its own loop just waits here.
        await self._ended.wait()
        raise MediaStreamError

    def _hold(self) -> None:
        """Frames go through ``deliver`` (the gate, ``Leg.send``) again, not the C sender."""
        if self.fast is not None and self.leg is not None:
            self.fast = None
            self.gate.forwarded += self.leg.disarm()

    def sync(self) -> None:
        """What the armed C sender sent, into the leg's and the gate's counts."""
        if self.fast is not None and self.leg is not None:
            self.gate.forwarded += self.leg.sync()

    def count(self, into: dict[str, int]) -> None:
        self.sync()
        leg = self.leg
        if leg is not None:
            into["packets"] += leg.packets
            into["octets"] += leg.octets
            into["retransmits"] += leg.retransmits
            into["nacks_missed"] += leg.nacks_missed
            into["stalls"] += leg.stalls
            into["refused"] += leg.refused

    def retire(self, into: dict[str, int]) -> None:
        self.count(into)
        leg = self.leg
        if leg is not None:
            leg.packets = leg.octets = leg.retransmits = leg.nacks_missed = 0
            leg.stalls = leg.refused = 0

    def stop(self) -> None:
        self._hold()
        if self.readyState == "live":
            super().stop()
            self._ended.set()


class Forwarding(Protocol):
    """How a relay forwards: the slots' forwarders, subscribers' tracks, publishers' taps."""

    name: str

    def forwarder(self, kind: str) -> Any:
        """A new slot's ``room.Forwarder``."""
        ...

    def subscribe(self, room: Room, site: str, kind: str, sender: RTCRtpSender) -> Any:
        """The track ``sender`` sends of the slot (site, kind), subscribed in ``room``."""
        ...

    def unsubscribe(self, room: Room, track: Any) -> None: ...

    def publish(
        self, feed: SiteFeed, receiver: RTCRtpReceiver, kind: str
    ) -> Callable[[int], Any] | None:
        """Feed ``receiver``'s frames to ``feed``; for video, ``send_pli(ssrc)`` (a coroutine)."""
        ...

    def unpublish(self, receiver: RTCRtpReceiver) -> None: ...

    async def close(self) -> None:
        """Stop and await whatever it runs by itself (the relay is closing)."""
        ...


class Passthrough:
    """The relay's forwarding: encoded frames tapped, packetized once per slot, fanned out."""

    name = "passthrough"

    def forwarder(self, kind: str) -> SlotFanout:
        return SlotFanout(kind)

    def subscribe(self, room: Room, site: str, kind: str, sender: RTCRtpSender) -> ForwardTrack:
        track = ForwardTrack(room, site, kind, Leg(sender, kind))
        room.subscribe(track)
        return track

    def unsubscribe(self, room: Room, track: Any) -> None:
        room.remove_track(track)

    def publish(
        self, feed: SiteFeed, receiver: RTCRtpReceiver, kind: str
    ) -> Callable[[int], Any] | None:
        if kind == "video":
            return internals.tap_receiver(receiver, feed.on_video, feed.on_loss)
        internals.tap_receiver(receiver, feed.on_audio)
        return None

    def unpublish(self, receiver: RTCRtpReceiver) -> None:
        internals.untap_receiver(receiver)

    async def close(self) -> None:
        return None
