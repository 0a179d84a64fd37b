"""The fan-out's loop over subscribers in C (``_wire.fan_out`` and ``_wire.Sender``).

A steady subscriber's frames go out from C without ``ForwardTrack.deliver``; what
reaches a real UDP socket must be byte for byte what ``Leg.send`` sends on a twin
session with the same key, SSRC and sequence numbers, and the leg's counts, history
(for NACKs) and sender-report counters must come out the same once folded back. A gap
upstream, a closing or buffered connection and ``stop`` hand the frames back to Python.
Skipped where ``_wire`` is not built (tests/unit/test_media_fanout.py covers Python's).
"""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc.rtcdtlstransport import State

from confsvc.media import aiortc_internals as internals
from confsvc.media.fanout import ForwardTrack, Leg, Packetizer, fan_out
from tests.unit.test_media_fanout import keyframe, make_leg
from tests.unit.test_media_wire import close, two_paths

pytestmark = pytest.mark.skipif(
    internals.NATIVE is None or not hasattr(internals.NATIVE, "fan_out"),
    reason="confsvc.media._wire is not built (no C compiler at install) or CONFSVC_NATIVE_WIRE=0",
)

PROFILE = "SRTP_PROFILE_AEAD_AES_128_GCM"


class OnPath:
    """A leg's ``Wire`` on a given path, usable while the path is (as ``Wire.prepare``)."""

    def __init__(self, path: internals.Path) -> None:
        self.path = path

    def prepare(self) -> internals.Path | None:
        return self.path if self.path.usable() else None


def track_on(path: internals.Path, leg: Leg | None = None) -> tuple[ForwardTrack, Leg]:
    if leg is None:
        leg, _wire, _sender = make_leg("video")
    leg.wire = OnPath(path)  # type: ignore[assignment]
    keyframes: list[str] = []
    room = SimpleNamespace(conference="c", request_keyframe=keyframes.append)
    track = ForwardTrack(room, "warsaw", "video", leg)  # type: ignore[arg-type]
    track.gate.start()
    return track, leg


def frames(n: int) -> list[Any]:
    packetizer = Packetizer("video")
    out = [packetizer.frame(keyframe(5000), 0, True)]
    for i in range(1, n):
        out.append(packetizer.frame(bytes([i]) * (200 + 700 * (i % 4)), 3000 * i, False))
    return out


def drain(receiver: socket.socket) -> list[bytes]:
    receiver.setblocking(False)
    got = []
    while True:
        try:
            got.append(receiver.recv(65535))
        except BlockingIOError:
            return got


async def test_a_steady_subscriber_gets_from_c_exactly_what_leg_send_sends() -> None:
    native, python, reader, made = await two_paths(PROFILE)
    try:
        track, leg = track_on(native)
        twin, _wire, twin_sender = make_leg("video")
        twin.wire = OnPath(python)  # type: ignore[assignment]
        twin_sender._ssrc = leg.ssrc  # type: ignore[attr-defined]
        twin.ssrc, twin.seq, twin.ts_origin = leg.ssrc, leg.seq, leg.ts_origin
        sent = frames(40)
        fan_out(sent[0], (track,))
        assert track.fast is not None and track.fast.armed  # the first went through Python
        for frame in sent[1:]:
            fan_out(frame, (track,))
        for frame in sent:
            assert twin.send(frame)
        ours, theirs = drain(made[0][1]), drain(made[1][1])
        assert len(ours) == sum(len(f.payloads) for f in sent) == len(theirs)
        assert ours == theirs
        track.sync()
        assert (leg.seq, leg.frames, leg.packets, leg.octets) == (
            twin.seq,
            twin.frames,
            twin.packets,
            twin.octets,
        )
        assert leg.history == twin.history  # what a NACK finds, written from C
        first_seq = leg.history[5][0]  # type: ignore[index]
        assert leg._find(first_seq + 1) == twin._find(first_seq + 1) is not None
        assert leg.hooks.counts() == twin.hooks.counts()  # what the sender reports say
        sender = leg.hooks.sender
        assert getattr(sender, internals._SENDER_RTP_TS) == getattr(
            twin_sender, internals._SENDER_RTP_TS
        )
        assert track.gate.forwarded == len(sent)
        assert native.sent == python.sent == len(ours)
        assert native.dtls._RTCDtlsTransport__tx_bytes == sum(map(len, ours))
        clear = reader.unprotect(ours[-1])
        ext = len(leg._ext)
        assert clear[12 : 12 + ext] == leg._ext and clear[12 + ext :] == sent[-1].payloads[-1]
    finally:
        close(made)


async def test_a_gap_upstream_hands_the_frames_back_to_the_gate() -> None:
    native, _python, _reader, made = await two_paths(PROFILE)
    try:
        track, leg = track_on(native)
        sent = frames(6)
        fan_out(sent[0], (track,))
        fan_out(sent[1], (track,))
        assert track.fast is not None
        track.gate.wait_for_keyframe()  # what Room does when a frame was lost upstream
        assert track.fast is None and leg.native is None and leg.seq != 0
        before = len(drain(made[0][1]))
        fan_out(sent[2], (track,))  # not a keyframe: the gate holds it back
        assert drain(made[0][1]) == [] and track.gate.dropped == 1
        fan_out(frames(1)[0], (track,))  # a keyframe: sent, and the C sender takes over again
        assert track.fast is not None and len(drain(made[0][1])) > 0
        assert before == sum(len(f.payloads) for f in sent[:2])
        track.stop()  # the subscriber leaves: its counts are folded in, nothing more is sent
        assert track.fast is None and leg.native is None
        assert leg.packets == before + len(frames(1)[0].payloads)
    finally:
        close(made)


async def test_a_closing_connection_is_not_written_to_and_the_frame_stalls() -> None:
    native, _python, _reader, made = await two_paths(PROFILE)
    try:
        track, leg = track_on(native)
        sent = frames(3)
        fan_out(sent[0], (track,))
        armed = track.fast
        assert armed is not None
        drain(made[0][1])
        made[0][2].close()  # asyncio marks it closing now and closes the socket later
        fan_out(sent[1], (track,))
        assert not armed.armed and track.fast is None  # found unusable in C, handed back
        assert leg.stalls == 1 and drain(made[0][1]) == []
    finally:
        close(made)


async def test_what_c_checks_before_each_frame() -> None:
    assert internals.NATIVE is not None
    native, _python, _reader, made = await two_paths(PROFILE)
    try:
        frame = frames(1)[0]
        sender = native.native_sender(0x80, 96, 1234, b"", 0, 10, 0, None)
        assert sender is not None and not sender.armed and sender.usable()
        sub = SimpleNamespace(fast=sender)
        args = (frame.payloads, frame.timestamp, frame.size, frame.ntp)
        assert internals.NATIVE.fan_out((sub,), 0, 1, *args) == [0]  # not armed
        sender.armed = True
        others = (SimpleNamespace(fast=None), SimpleNamespace(), SimpleNamespace(fast="x"))
        assert internals.NATIVE.fan_out((sub, *others), 0, 4, *args) == [1, 2, 3]
        assert sender.seq == 10 + len(frame.payloads)
        made[0][2]._buffer_size = 100  # asyncio holds datagrams: they go first, via Python
        assert internals.NATIVE.fan_out((sub,), 0, 1, *args) == [0] and not sender.armed
        made[0][2]._buffer_size = 0
        sender.armed = True
        native.dtls._state = State.CLOSED
        assert internals.NATIVE.fan_out([sub], 0, 1, *args) == [0] and not sender.armed
        native.dtls._state = State.CONNECTED
        sender.armed = True
        assert internals.NATIVE.fan_out([sub], 0, 1, *args) == []
        seq, frames_, packets, octets, wire_octets, refused, sent, _ts, ntp = sender.take()
        assert (packets, octets, refused, sent, ntp) == (
            2 * len(frame.payloads),
            2 * frame.size,
            0,
            2,
            frame.ntp,
        )
        assert wire_octets > octets and frames_ == 0  # no history: no RTX negotiated
        assert seq == 10 + 2 * len(frame.payloads)
        assert sender.take()[2:7] == (0, 0, 0, 0, 0)  # counted once
        assert len(drain(made[0][1])) == 2 * len(frame.payloads)
        # A path the C sender cannot check keeps the Python loop.
        assert native.native_sender(0x80, 96, 1, b"", 0, 0, 0, None) is not None
        del made[0][2]._buffer_size
        assert native.native_sender(0x80, 96, 1, b"", 0, 0, 0, None) is None
        made[0][2]._buffer_size = 0
    finally:
        close(made)


async def test_a_sender_refuses_bad_arguments_with_the_reason() -> None:
    assert internals.NATIVE is not None
    wire = internals.NATIVE
    native, _python, _reader, made = await two_paths(PROFILE)
    try:
        fd, addr = native._fd, native._sockaddr
        function, context = native._native or (0, 0)
        common = (native._srtp, native.dtls, State.CONNECTED, made[0][2], 0x80, 96, 1, b"", 0, 0)
        with pytest.raises(ValueError, match="history must be"):
            wire.Sender(fd, addr, function, context, *common, 0, [None] * 3)
        with pytest.raises(ValueError, match="sockaddr has the wrong size"):
            wire.Sender(fd, b"xx", function, context, *common, 0, None)
        with pytest.raises(ValueError, match="no socket or no SRTP context"):
            wire.Sender(fd, addr, 0, 0, *common, 0, None)
        with pytest.raises(ValueError, match="not initialised"):
            wire.Sender.__new__(wire.Sender).armed = True
        with pytest.raises(TypeError, match="payloads must be a list"):
            wire.fan_out((), 0, 0, (b"x",), 0, 1, 0)
        with pytest.raises(TypeError, match="subscribers must be"):
            wire.fan_out(iter(()), 0, 0, [b"x"], 0, 1, 0)
    finally:
        close(made)
