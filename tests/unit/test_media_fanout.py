"""The fast fan-out's packets, byte for byte, read back with aiortc's own RTP parser.

A ``Leg`` sits on a real ``RTCRtpSender`` (not connected); its ``Wire`` is replaced by
one that records what would go out, so the test sees exactly the RTP the subscriber
gets. Connected legs, with loss and NACKs, are in tests/integration/test_media_fanout.py.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest
from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx

from confsvc.media import aiortc_internals as internals
from confsvc.media.fanout import (
    ABS_SEND_TIME_URI,
    HISTORY_FRAMES,
    MID_URI,
    YIELD_EVERY,
    ForwardTrack,
    Frame,
    Leg,
    Packetizer,
    fan_out,
)

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
RTX = RTCRtpCodecParameters(
    mimeType="video/rtx", clockRate=90000, payloadType=98, parameters={"apt": 97}
)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111, channels=2)
EXTENSIONS = [
    RTCRtpHeaderExtensionParameters(id=1, uri=MID_URI),
    RTCRtpHeaderExtensionParameters(id=3, uri=ABS_SEND_TIME_URI),
]


class FakeTransport:
    state = "new"


class RecordingWire:
    """Stands in for ``Wire``: its path records the (unprotected) datagrams it is given."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.up = True
        self.dropped = 0

    def prepare(self) -> Any:
        return self if self.up else None

    def protect(self, packet: bytes) -> bytes:
        return packet

    def send(self, datagrams: list[bytes]) -> int:
        self.sent.extend(datagrams)
        return sum(map(len, datagrams))

    def send_one(self, datagram: bytes) -> int:
        return self.send([datagram])

    send_rtp = internals.Path.send_rtp_python  # builds the packets as a real path does


def make_leg(kind: str = "video", mid: str = "2") -> tuple[Leg, RecordingWire, RTCRtpSender]:
    """Call from a coroutine: ``RTCRtpSender`` takes the running event loop."""
    sender = RTCRtpSender(kind, FakeTransport())  # type: ignore[arg-type]
    leg = Leg(sender, kind)
    wire = RecordingWire()
    leg.wire = wire  # type: ignore[assignment]
    codecs = [VP8, RTX] if kind == "video" else [OPUS]
    leg.configure(RTCRtpSendParameters(codecs=codecs, headerExtensions=EXTENSIONS, muxId=mid))
    return leg, wire, sender


def parse(data: bytes) -> RtpPacket:
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpSendParameters(headerExtensions=EXTENSIONS))
    return RtpPacket.parse(data, extensions)


def keyframe(size: int = 5000) -> bytes:
    return b"\x10" + bytes(range(256)) * (size // 256)


async def test_a_frame_becomes_one_packet_per_payload_with_this_subscribers_header() -> None:
    leg, wire, sender = make_leg()
    assert leg.ready and leg.payload_type == 97 and leg.rtx_payload_type == 98
    frame = Packetizer("video").frame(keyframe(), 123_000, True)
    assert leg.send(frame)
    packets = [parse(p) for p in wire.sent]
    assert len(packets) == len(frame.payloads) > 1
    assert [p.payload for p in packets] == frame.payloads
    assert all(p.ssrc == sender._ssrc and p.payload_type == 97 for p in packets)
    seqs = [p.sequence_number for p in packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]
    assert [p.marker for p in packets] == [0] * (len(packets) - 1) + [1]
    assert {p.timestamp for p in packets} == {(leg.ts_origin + 123_000) & 0xFFFFFFFF}
    assert all(p.extensions.mid == "2" for p in packets)
    # Negotiated, but left out: it would only make the viewer send REMB, which is not used.
    assert all(p.extensions.abs_send_time is None for p in packets)
    # What the sender's RTCP sender reports will say: packets and payload octets.
    assert internals.SenderHooks(sender, lambda p: None, lambda s: None).counts() == (
        len(packets),
        frame.size,
    )


async def test_two_subscribers_share_the_payloads_but_not_ssrc_sequence_or_timestamp_origin() -> (
    None
):
    (a, wa, _), (b, wb, _) = make_leg(mid="1"), make_leg(mid="7")
    packetizer = Packetizer("video")
    for i in range(3):
        frame = packetizer.frame(
            keyframe(3000) if i == 0 else b"\x11" + b"d" * 2000, i * 3000, i == 0
        )
        a.send(frame)
        b.send(frame)
    pa, pb = [parse(p) for p in wa.sent], [parse(p) for p in wb.sent]
    assert [p.payload for p in pa] == [p.payload for p in pb]
    assert pa[0].ssrc != pb[0].ssrc
    assert {p.extensions.mid for p in pa} == {"1"} and {p.extensions.mid for p in pb} == {"7"}
    # Timestamps advance by the frame interval on each subscriber's own origin.
    stamps = sorted({p.timestamp - a.ts_origin & 0xFFFFFFFF for p in pa})
    assert stamps == [0, 3000, 6000]
    # One picture id per frame, consecutive: read from the VP8 payload descriptor (M bit).
    first_of_frame = [p for p in pa if p.payload[0] & 0x10]
    ids = [struct.unpack("!H", p.payload[2:4])[0] & 0x7FFF for p in first_of_frame]
    assert ids == [(ids[0] + i) & 0x7FFF for i in range(3)]


async def test_a_nack_is_answered_with_rtx_that_unwraps_to_the_original() -> None:
    leg, wire, sender = make_leg()
    leg.send(Packetizer("video").frame(keyframe(), 0, True))
    original = parse(wire.sent[2])
    leg.retransmit(original.sequence_number)
    rtx = parse(wire.sent[-1])
    assert rtx.ssrc == sender._rtx_ssrc and rtx.payload_type == 98
    restored = unwrap_rtx(rtx, payload_type=97, ssrc=sender._ssrc)
    assert restored.sequence_number == original.sequence_number
    assert restored.payload == original.payload and restored.timestamp == original.timestamp
    assert restored.extensions.mid == "2"
    assert leg.retransmits == 1
    # A sequence number never sent, or one the history has forgotten, is not resent.
    count = len(wire.sent)
    leg.retransmit((original.sequence_number + 5000) & 0xFFFF)
    assert len(wire.sent) == count and leg.nacks_missed == 1


async def test_a_nack_for_an_older_frame_across_a_wrap_is_found_in_history() -> None:
    leg, wire, sender = make_leg()
    leg.seq = 0xFFFE  # the keyframe's packets wrap: 65534, 65535, 0, 1, ...
    packetizer = Packetizer("video")
    leg.send(packetizer.frame(keyframe(), 0, True))
    wrapped = [parse(p) for p in wire.sent]
    for i in range(20):
        leg.send(packetizer.frame(b"\x11d", (i + 1) * 3000, False))
    for original in (wrapped[1], wrapped[2], wrapped[-1]):
        leg.retransmit(original.sequence_number)
        restored = unwrap_rtx(parse(wire.sent[-1]), payload_type=97, ssrc=sender._ssrc)
        assert restored.sequence_number == original.sequence_number
        assert restored.payload == original.payload and restored.marker == original.marker
        assert restored.timestamp == original.timestamp
    assert leg.retransmits == 3 and leg.nacks_missed == 0


async def test_the_history_forgets_after_its_size() -> None:
    leg, wire, _ = make_leg()
    packetizer = Packetizer("video")
    leg.send(packetizer.frame(b"\x10" + b"k" * 100, 0, True))
    first = parse(wire.sent[0]).sequence_number
    for i in range(HISTORY_FRAMES):
        leg.send(packetizer.frame(b"\x11d", (i + 1) * 3000, False))
    count = len(wire.sent)
    leg.retransmit(first)
    assert len(wire.sent) == count and leg.nacks_missed == 1


async def test_audio_is_one_packet_per_frame_without_a_vp8_descriptor() -> None:
    leg, wire, _ = make_leg("audio")
    frame = Packetizer("audio").frame(b"\x78opus", 960, True)
    leg.send(frame)
    (packet,) = [parse(p) for p in wire.sent]
    assert packet.payload == b"\x78opus" and packet.payload_type == 111 and packet.marker == 1


async def test_a_connection_that_cannot_send_gets_nothing_and_is_counted() -> None:
    leg, wire, _ = make_leg()
    wire.up = False
    assert not leg.send(Packetizer("video").frame(keyframe(), 0, True))
    assert wire.sent == [] and leg.stalls == 1


async def test_datagrams_the_kernel_refused_and_stalled_frames_reach_the_relays_totals() -> None:
    from confsvc.media.relay import TOTALS

    leg, wire, _ = make_leg()

    def refusing(datagrams: list[bytes]) -> int:
        wire.dropped += len(datagrams)  # as Path.send counts a full socket
        return 0

    wire.send = refusing  # type: ignore[method-assign]
    leg.send(Packetizer("video").frame(keyframe(), 0, True))
    wire.up = False
    leg.send(Packetizer("video").frame(keyframe(), 3000, True))
    assert (leg.refused, leg.stalls) == (len(internals.vp8_packetize(keyframe(), 0)), 1)
    track = ForwardTrack.__new__(ForwardTrack)
    track.leg = leg
    into = dict.fromkeys(TOTALS, 0)
    track.count(into)
    assert into["refused"] == leg.refused and into["stalls"] == 1


async def test_a_codec_other_than_the_forwarded_one_leaves_the_leg_unready() -> None:
    sender = RTCRtpSender("video", FakeTransport())  # type: ignore[arg-type]
    leg = Leg(sender, "video")
    h264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
    leg.configure(RTCRtpSendParameters(codecs=[h264], headerExtensions=EXTENSIONS, muxId="0"))
    assert not leg.ready


class Recorder:
    def __init__(self, name: int, log: list[tuple[int, int]]) -> None:
        self.name, self.log = name, log

    def deliver(self, frame: Frame) -> None:
        self.log.append((self.name, frame.timestamp))


def test_fan_out_yields_every_few_subscribers_and_keeps_each_subscribers_order() -> None:
    log: list[tuple[int, int]] = []
    subscribers = [Recorder(i, log) for i in range(YIELD_EVERY * 3 + 5)]
    later: list[tuple[Callable[..., object], tuple[Any, ...]]] = []

    def call_soon(fn: Callable[..., object], *args: Any) -> None:
        later.append((fn, args))

    packetizer = Packetizer("video")
    fan_out(packetizer.frame(b"\x10a", 0, True), subscribers, call_soon=call_soon)
    assert len(log) == YIELD_EVERY  # the rest waits for the next loop turn
    fan_out(packetizer.frame(b"\x11b", 3000, False), subscribers, call_soon=call_soon)
    while later:
        fn, args = later.pop(0)
        fn(*args)
    assert len(log) == 2 * len(subscribers)
    for i in range(len(subscribers)):
        assert [ts for name, ts in log if name == i] == [0, 3000]


def test_one_broken_subscriber_does_not_stop_the_others() -> None:
    log: list[tuple[int, int]] = []

    class Broken:
        def deliver(self, frame: Frame) -> None:
            raise RuntimeError("boom")

    subscribers: list[Any] = [Recorder(0, log), Broken(), Recorder(2, log)]
    fan_out(Packetizer("audio").frame(b"x", 0, True), subscribers, call_soon=pytest.fail)
    assert [name for name, _ in log] == [0, 2]


# -- Path: the socket end, with and without UDP segmentation -------------------------


class FakeDtls:
    def __init__(self) -> None:
        from aiortc.rtcdtlstransport import State

        self._state = State.CONNECTED
        self._RTCDtlsTransport__tx_packets = 0
        self._RTCDtlsTransport__tx_bytes = 0


async def path_to_receiver() -> tuple[internals.Path, socket.socket, Any]:
    loop = asyncio.get_running_loop()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    path = internals.Path(FakeDtls(), lambda p: p, transport, receiver.getsockname())
    return path, receiver, transport


def received(receiver: socket.socket, n: int) -> list[bytes]:
    return [receiver.recv(65535) for _ in range(n)]


@pytest.mark.parametrize("gso", [True, False], ids=["gso", "one-sendto-each"])
async def test_a_path_delivers_datagrams_whole_and_in_order(
    monkeypatch: pytest.MonkeyPatch, gso: bool
) -> None:
    monkeypatch.setattr(internals._Gso, "enabled", gso and internals._Gso.enabled)
    path, receiver, transport = await path_to_receiver()
    try:
        # A frame: equal-sized packets and a shorter last one; then an odd mixture.
        frame = [bytes([i]) * 1200 for i in range(5)] + [b"\x05" * 300]
        mixed = [b"a" * 100, b"b" * 900, b"c" * 900, b"d" * 50, b"e" * 900]
        sent = path.send(frame) + path.send(mixed)
        assert received(receiver, len(frame) + len(mixed)) == frame + mixed
        assert sent == sum(map(len, frame + mixed))
        assert path.dtls._RTCDtlsTransport__tx_packets == len(frame) + len(mixed)
        assert path.dropped == 0
        if gso:  # the kernel took UDP_SEGMENT (a refusal switches it off for good)
            assert internals._Gso.enabled
    finally:
        transport.close()
        receiver.close()


def test_a_gso_run_is_equal_sizes_and_may_end_on_a_shorter_one() -> None:
    run = internals.Path._gso_run
    sizes = [[1200] * 4 + [300], [1200, 1300], [500, 500, 200, 500], [10]]
    packets = [[b"x" * n for n in s] for s in sizes]
    assert run(packets[0], 0) == (5, 1200)
    assert run(packets[1], 0) == (1, 1200)  # a longer one cannot join
    assert run(packets[2], 0) == (3, 500)  # the shorter one ends the run
    assert run(packets[2], 3) == (4, 500)
    assert run(packets[3], 0) == (1, 10)
    many = [b"y" * 1200] * 100
    end, _ = run(many, 0)
    assert end * 1200 <= 60_000 and end <= 64


async def test_a_single_datagram_goes_out_whole_and_is_counted() -> None:
    path, receiver, transport = await path_to_receiver()
    try:
        assert path.send_one(b"opus" * 30) == 120
        assert path.send_one(b"rtx" * 10) == 30
        assert received(receiver, 2) == [b"opus" * 30, b"rtx" * 10]
        assert path.sent == 2 and path.dropped == 0
        assert path.dtls._RTCDtlsTransport__tx_packets == 2
        assert path.dtls._RTCDtlsTransport__tx_bytes == 150
        fake = FakeSock(errno.EIO)
        fake.sendto = lambda data, addr: (_ for _ in ()).throw(BlockingIOError())  # type: ignore[method-assign]
        path._sock = fake  # type: ignore[assignment]
        assert path.send_one(b"x" * 10) == 0  # the socket is full: dropped, counted
        assert path.dropped == 1 and path.sent == 3
    finally:
        transport.close()
        receiver.close()


async def test_a_path_is_unusable_once_its_socket_closes() -> None:
    path, receiver, transport = await path_to_receiver()
    assert path.usable()
    transport.close()
    assert not path.usable()
    receiver.close()


# -- the load-test viewer's tally of clear RTP headers --------------------------------


def test_rtp_tally_counts_frames_by_marker_and_loss_across_a_wrap() -> None:
    from confsvc.media.bot import RtpTally

    video = RtpTally("warsaw", "video")
    seqs = [65533, 65534, 65535, 0, 2, 3]  # 1 is lost, across the wrap
    for i, seq in enumerate(seqs):
        video.add(seq, marker=i % 2 == 1)
    assert video.packets == 6 and video.frames == 3
    assert video.lost() == 1
    video.add(1, marker=False)  # late, reordered: no longer lost
    assert video.lost() == 0
    audio = RtpTally("warsaw", "audio")
    for seq in (10, 11, 12):
        audio.add(seq, marker=False)
    assert audio.frames == 3 and audio.lost() == 0


class FakeSock:
    """Refuses ``sendmsg`` with one errno; ``sendto`` records."""

    def __init__(self, refusal: int) -> None:
        self.refusal = refusal
        self.sent: list[bytes] = []

    def sendmsg(self, *args: Any) -> int:
        raise OSError(self.refusal, os.strerror(self.refusal))

    def sendto(self, data: bytes, addr: Any) -> int:
        self.sent.append(data)
        return len(data)


@pytest.mark.parametrize(
    ("refusal", "gso_after", "delivered"),
    [
        (errno.EIO, False, 3),  # no segmentation on this route: sent one by one
        (errno.ENETUNREACH, True, 0),  # the route is gone: dropped, segmentation stays on
    ],
)
async def test_a_refused_segmented_send_is_told_apart_from_a_lost_route(
    monkeypatch: pytest.MonkeyPatch, refusal: int, gso_after: bool, delivered: int
) -> None:
    monkeypatch.setattr(internals._Gso, "enabled", True)
    path, receiver, transport = await path_to_receiver()
    try:
        fake = FakeSock(refusal)
        path._sock = fake  # type: ignore[assignment]
        path.send([b"a" * 100, b"b" * 100, b"c" * 50])
        assert internals._Gso.enabled is gso_after
        assert len(fake.sent) == delivered
        assert path.dropped == 3 - delivered
    finally:
        transport.close()
        receiver.close()


async def test_the_demos_site_bots_start_over_by_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``confsvc demo --bots``: each site bot reconnects when its connection is lost."""
    import confsvc.media.bot as bot_module
    from confsvc.cli.media_cmd import demo_bots
    from confsvc.config import Config
    from confsvc.media.setup import BOTS

    made: list[dict[str, Any]] = []

    class FakeBot:
        def __init__(self, link: Any, **kwargs: Any) -> None:
            made.append({"site": link.site, **kwargs})

        async def start(self) -> None:
            return None

    monkeypatch.setattr(bot_module, "SiteBot", FakeBot)
    cfg = Config()
    app: dict[Any, Any] = {BOTS: []}
    base = cfg.base_url
    links = [("site:warsaw", f"{base}/j/tok-w"), ("participant", f"{base}/j/tok-p")]
    monkeypatch.setattr(bot_module, "parse_link", lambda url: type("L", (), {"site": url[-5:]})())
    await demo_bots(app, cfg, links)
    assert [m["reconnect"] for m in made] == [True] and len(app[BOTS]) == 1
