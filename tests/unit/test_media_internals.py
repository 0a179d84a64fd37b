"""The aiortc private names confsvc.media relies on are still there and behave as assumed.

If this fails after an aiortc upgrade, the relay cannot forward encoded frames: read
MEDIA-NOTES.md and confsvc/media/aiortc_internals.py before changing anything.
"""

from __future__ import annotations

import inspect

import aioice.ice
import aiortc
import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import get_encoder
from aiortc.rtcpeerconnection import RTCPeerConnection as PC
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from confsvc.media import aiortc_internals as internals


def test_aiortc_is_the_version_the_internals_were_checked_on() -> None:
    assert aiortc.__version__ == internals.CHECKED_AIORTC
    internals.check_version()


def test_receiver_still_has_a_private_decoder_queue_and_thread() -> None:
    src = inspect.getsource(RTCRtpReceiver)
    assert "self.__decoder_queue: queue.Queue = queue.Queue()" in src
    assert "self.__decoder_queue.put((codec, encoded_frame))" in src
    assert "self.__decoder_queue.put(None)" in src
    assert "async def _send_rtcp_pli(self, media_ssrc: int)" in src
    assert "await self._send_rtcp_pli(packet.ssrc)" in src


def test_track_event_still_fires_before_receive_starts_the_decoder() -> None:
    src = inspect.getsource(PC.setRemoteDescription)
    # The track event is emitted, then __connect() (which calls receive()) is scheduled.
    assert src.index('self.emit("track"') < src.index("asyncio.ensure_future(self.__connect())")
    connect = inspect.getsource(PC._RTCPeerConnection__connect)
    assert "transceiver.receiver.receive(" in connect
    receive = inspect.getsource(RTCRtpReceiver.receive)
    assert "self.__decoder_queue" in receive and "threading.Thread" in receive


def test_sender_packs_anything_that_is_not_a_frame_and_handles_pli_via_send_keyframe() -> None:
    src = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "self.__encoder.pack(data)" in src
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self._send_keyframe()" in rtcp


def test_vp8_and_opus_pack_encoded_packets_without_encoding() -> None:
    vp8 = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96))
    packet = av.Packet(b"\x10" + b"\x00" * 3000)
    packet.pts = 3000
    from fractions import Fraction

    packet.time_base = Fraction(1, 90000)
    payloads, ts = vp8.pack(packet)
    assert ts == 3000 and len(payloads) >= 3
    opus = get_encoder(
        RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, payloadType=111, channels=2)
    )
    a = av.Packet(b"\x78" * 60)
    a.pts, a.time_base = 960, Fraction(1, 48000)
    assert opus.pack(a) == ([b"\x78" * 60], 960)


def test_aioice_still_picks_host_addresses_through_get_host_addresses() -> None:
    src = inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "get_host_addresses(" in src


async def test_tap_hands_over_jitter_frames_and_lets_the_stop_sentinel_through() -> None:
    pc = RTCPeerConnection()
    t = pc.addTransceiver("video", direction="recvonly")
    got: list[tuple[bytes, int, bool]] = []
    internals.tap_receiver(t.receiver, lambda d, ts, k: got.append((d, ts, k)))
    tap = t.receiver._RTCRtpReceiver__decoder_queue
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    tap.put((codec, internals.JitterFrame(data=b"\x10abc", timestamp=9000)))
    tap.put((codec, internals.JitterFrame(data=b"\x11abc", timestamp=12000)))
    assert got == [(b"\x10abc", 9000, True), (b"\x11abc", 12000, False)]
    tap.put(None)
    assert tap.get_nowait() is None
    await pc.close()


async def test_local_addresses_policy_offers_loopback_only() -> None:
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="recvonly")
    with internals.local_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    cands = [x for x in pc.localDescription.sdp.splitlines() if x.startswith("a=candidate:")]
    assert cands and all(x.split()[4] == "127.0.0.1" for x in cands)
    await pc.close()


def test_tap_refuses_a_receiver_whose_decoder_already_runs() -> None:
    class Fake:
        _RTCRtpReceiver__decoder_queue = None
        _RTCRtpReceiver__decoder_thread = object()

    with pytest.raises(internals.InternalsMoved):
        internals.tap_receiver(Fake(), lambda d, ts, k: None)  # type: ignore[arg-type]


def test_vp8_keyframe_bit() -> None:
    assert internals.is_vp8_keyframe(b"\x10\x02") and not internals.is_vp8_keyframe(b"\x11")
    assert not internals.is_vp8_keyframe(b"")


async def test_release_decoder_lets_the_idle_decoder_thread_exit() -> None:
    import queue as queue_mod
    import threading

    pc = RTCPeerConnection()
    t = pc.addTransceiver("video", direction="recvonly")
    internals.tap_receiver(t.receiver, lambda d, ts, k: None)
    tap = t.receiver._RTCRtpReceiver__decoder_queue
    # Stands in for aiortc's decoder thread: it waits on the queue for its sentinel.
    thread = threading.Thread(target=queue_mod.Queue.get, args=(tap,), name="video-decoder")
    thread.start()
    t.receiver._RTCRtpReceiver__decoder_thread = thread
    internals.release_decoder(t.receiver)
    thread.join(timeout=5)
    assert not thread.is_alive()
    t.receiver._RTCRtpReceiver__decoder_thread = None
    await pc.close()


# -- what the fan-out (fanout.py, Wire/Path/SenderHooks) relies on --------------------


def test_sender_answers_nack_through_retransmit_and_reports_its_private_counters() -> None:
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "await self._retransmit(seq)" in rtcp
    reports = inspect.getsource(RTCRtpSender._run_rtcp)
    for name in ("packet_count", "octet_count", "rtp_timestamp", "ntp_timestamp"):
        assert f"self.__{name}" in reports, name
    init = inspect.getsource(RTCRtpSender.__init__)
    assert "self._ssrc = random32()" in init and "self._rtx_ssrc = random32()" in init


def test_dtls_transport_protects_with_tx_srtp_and_sends_on_its_ice_transport() -> None:
    from aiortc.rtcdtlstransport import RTCDtlsTransport, State

    send = inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "self._state != State.CONNECTED" in send
    assert "self._tx_srtp.protect(data)" in send
    assert "self.__tx_packets += 1" in send and "self.__tx_bytes += len(data)" in send
    assert State.CONNECTED.name == "CONNECTED"
    from aiortc.rtcicetransport import RTCIceTransport

    init = inspect.getsource(RTCIceTransport.__init__)
    assert "self._connection = gatherer._connection" in init
    assert "self._send = self._connection.send" in init


def test_aioice_sends_on_the_nominated_pairs_protocol_transport() -> None:
    sendto = inspect.getsource(aioice.ice.Connection.sendto)
    assert "self._nominated.get(component)" in sendto
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in sendto
    assert "self.transport.sendto(data, addr)" in inspect.getsource(
        aioice.ice.StunProtocol.send_data
    )
    received = inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    assert "self.receiver.data_received(data, self.local_candidate.component)" in received
    assert "self._protocols" in inspect.getsource(aioice.ice.Connection.__init__)


def test_dtls_transport_reads_srtcp_with_rx_srtp_and_handles_it_in_handle_rtcp_data() -> None:
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    recv = inspect.getsource(RTCDtlsTransport._recv_next)
    assert "self.__rx_bytes += len(data)" in recv and "self.__rx_packets += 1" in recv
    assert "data = self._rx_srtp.unprotect_rtcp(data)" in recv
    assert "await self._handle_rtcp_data(data)" in recv
    handle = inspect.getsource(RTCDtlsTransport._handle_rtcp_data)
    assert "RtcpPacket.parse(data)" in handle
    assert "await recipient._handle_rtcp_packet(packet)" in handle
    # What the relay's RtcpReader sees of a sender's handlers: nothing in them waits
    # except the NACK hook, which the fan-out replaces with one that does not.
    sender = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert sender.count("await ") == 1


def test_vp8_pack_is_packetize_with_the_encoders_picture_id() -> None:
    from fractions import Fraction

    from aiortc.codecs.vpx import Vp8Encoder

    assert "self._packetize(bytes(packet), self.picture_id)" in inspect.getsource(Vp8Encoder.pack)
    encoder = Vp8Encoder()
    packet = av.Packet(b"\x10" + bytes(range(256)) * 12)
    packet.pts, packet.time_base = 0, Fraction(1, 90000)
    picture_id = encoder.picture_id
    payloads, _ = encoder.pack(packet)
    assert payloads == internals.vp8_packetize(bytes(packet), picture_id)


async def test_asyncio_datagram_transports_keep_their_socket_in_sock() -> None:
    import asyncio
    import socket

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        assert isinstance(transport._sock, socket.socket)  # type: ignore[attr-defined]
    finally:
        transport.close()


@pytest.mark.parametrize(
    "profile",
    [
        "SRTP_PROFILE_AEAD_AES_256_GCM",
        "SRTP_PROFILE_AEAD_AES_128_GCM",
        "SRTP_PROFILE_AES128_CM_SHA1_80",
    ],
)
def test_srtp_protector_writes_what_pylibsrtp_writes_and_unprotects(profile: str) -> None:
    """The fan-out's protect calls libsrtp itself: same bytes as ``Session.protect``, decryptable."""
    import os
    import struct

    import pylibsrtp
    from pylibsrtp import Policy, Session

    code = getattr(Policy, profile)
    key = os.urandom(
        {"SRTP_PROFILE_AEAD_AES_256_GCM": 44, "SRTP_PROFILE_AEAD_AES_128_GCM": 28}.get(profile, 30)
    )

    def session(direction: int) -> Session:
        return Session(Policy(key=key, ssrc_type=direction, srtp_profile=code))

    ours, theirs = session(Policy.SSRC_ANY_OUTBOUND), session(Policy.SSRC_ANY_OUTBOUND)
    reader = session(Policy.SSRC_ANY_INBOUND)
    protect = internals.srtp_protector(ours)
    assert protect is not ours.protect  # pylibsrtp's layout is the one checked: the fast path
    for seq, size in [(65534, 1300), (65535, 100), (0, 1), (1, 1300)]:  # across a wrap (ROC)
        packet = struct.pack("!BBHII", 0x80, 96, seq, 3000 * seq, 1234) + os.urandom(size)
        out = protect(packet)
        assert out == theirs.protect(packet)
        assert reader.unprotect(out) == packet
    with pytest.raises(pylibsrtp.Error):  # a replayed index is refused, as pylibsrtp does
        protect(struct.pack("!BBHII", 0x80, 96, 1, 3000, 1234) + b"x")
    with pytest.raises(ValueError):
        protect(b"\x80" * 3000)
