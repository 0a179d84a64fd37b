"""The relay's RTCP reader: SRTCP taken in the socket callback, handled eagerly, REMB left out.

``aiortc_internals.RtcpReader`` replaces aiortc's queue-and-task path for incoming RTCP
on the relay's viewer connections; ``tests/integration/test_media_fanout.py`` shows
receiver reports (round-trip time) and NACKs (RTX) still work through it end to end.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiortc.rtcdtlstransport import State
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    pack_remb_fci,
)
from pylibsrtp import Policy, Session

from confsvc.media import aiortc_internals as internals

KEY = os.urandom(30)


def rr() -> bytes:
    report = RtcpReceiverInfo(
        ssrc=1234, fraction_lost=0, packets_lost=0, highest_sequence=10, jitter=0, lsr=0, dlsr=0
    )
    return bytes(RtcpRrPacket(ssrc=99, reports=[report]))


def remb() -> bytes:
    return bytes(
        RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=99, media_ssrc=0, fci=pack_remb_fci(500000, [1234]))
    )


def pli() -> bytes:
    return bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=99, media_ssrc=1234))


class FakeDtls:
    """The parts of ``RTCDtlsTransport`` the reader uses, with a real SRTP session."""

    def __init__(self) -> None:
        self._rx_srtp = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))
        self._state = State.CONNECTED
        self._RTCDtlsTransport__rx_packets = 0
        self._RTCDtlsTransport__rx_bytes = 0
        self.handled: list[list[Any]] = []

    async def _handle_rtcp_data(self, data: bytes) -> None:
        self.handled.append(RtcpPacket.parse(data))


def protector() -> Any:
    """One sending SRTP session (each SRTCP packet has the next index: no replay)."""
    return Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND)).protect_rtcp


def test_a_coroutine_that_never_waits_runs_to_its_end_on_the_callers_stack() -> None:
    done: list[int] = []

    async def handler() -> None:
        done.append(1)

    internals.run_eagerly(handler())  # no event loop needed: nothing is scheduled
    assert done == [1]


async def test_a_coroutine_that_waits_is_carried_on_by_a_task_with_the_awaited_result() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def handler() -> None:
        seen.append("started")
        seen.append(await future)
        await asyncio.sleep(0)
        seen.append("finished")

    internals.run_eagerly(handler())
    assert seen == ["started"]
    future.set_result("result")
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == ["started", "result", "finished"]


def test_remb_is_left_out_of_a_compound_packet_and_the_rest_kept_in_order() -> None:
    kept = internals.without_remb(rr() + remb() + pli())
    assert kept == rr() + pli()
    assert internals.without_remb(remb()) == b""
    plain = rr() + pli()
    assert internals.without_remb(plain) is plain  # nothing dropped: not copied


def test_a_malformed_packet_is_returned_as_it_is_for_the_parser_to_refuse() -> None:
    truncated = rr()[:-4]
    assert internals.without_remb(truncated) == truncated


def test_the_reader_decrypts_hands_over_all_but_remb_and_counts_what_it_took() -> None:
    protect = protector()
    dtls = FakeDtls()
    reader = internals.RtcpReader(dtls, drop_remb=True)
    compound = protect(rr() + remb())
    assert internals.is_srtcp(compound)
    assert reader.take(compound)
    ((report,),) = dtls.handled
    assert isinstance(report, RtcpRrPacket) and report.reports[0].ssrc == 1234
    assert reader.take(protect(remb()))  # REMB alone: nothing left to hand over
    assert len(dtls.handled) == 1
    assert (reader.handled, reader.remb_dropped, reader.failed) == (1, 2, 0)
    assert dtls._RTCDtlsTransport__rx_packets == 2


def test_the_reader_keeps_remb_when_asked_to_and_refuses_what_does_not_decrypt() -> None:
    protect = protector()
    dtls = FakeDtls()
    reader = internals.RtcpReader(dtls, drop_remb=False)
    assert reader.take(protect(remb()))
    ((packet,),) = dtls.handled
    assert isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP
    forged = bytearray(protect(pli()))
    forged[-1] ^= 0xFF  # the authentication tag no longer matches
    assert reader.take(bytes(forged))
    assert (len(dtls.handled), reader.failed) == (1, 1)


def test_the_reader_leaves_rtcp_to_aiortc_until_dtls_is_connected() -> None:
    protect = protector()
    dtls = FakeDtls()
    dtls._state = State.CONNECTING
    reader = internals.RtcpReader(dtls, drop_remb=True)
    assert not reader.take(protect(rr()))
    assert dtls.handled == [] and dtls._RTCDtlsTransport__rx_packets == 0


def test_rtp_stun_and_dtls_are_not_taken_for_srtcp() -> None:
    protect = protector()
    rtp = bytes([0x80, 96]) + bytes(10)
    stun = bytes([0x00, 0x01]) + bytes(18)
    dtls = bytes([22, 0xFE, 0xFD]) + bytes(10)
    assert not any(internals.is_srtcp(d) for d in (rtp, stun, dtls))
    assert internals.is_srtcp(protect(rr()))
