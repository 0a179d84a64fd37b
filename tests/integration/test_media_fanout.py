"""The fast fan-out on real connections: decodable video, sender reports, and a loss run.

A site bot publishes through the app; a viewer bot receives with aiortc's own RTP stack
(jitter buffer, NACK generator, RTX unwrapping) and decodes every video frame with
libvpx. The loss run drops every 20th video packet on the server's way out: with NACK →
RTX every frame still arrives whole; with retransmission switched off, frames are lost
(which shows the loss injection bites). This is also the upgrade test the private names
in ``aiortc_internals`` need: it fails if sending, SRTP, NACK or RTX stop working.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from confsvc.media import aiortc_internals as internals
from confsvc.media import fanout
from confsvc.media.bot import SiteBot, ViewerBot, parse_link
from confsvc.media.fanout import ForwardTrack
from confsvc.media.setup import RELAY
from tests.integration.media_helpers import collect_garbage, until  # noqa: F401

LOOP = ["127.0.0.1"]
DROP_EVERY = 10


def video_track(running: Any, site: str) -> ForwardTrack:
    room = running.app[RELAY].rooms[running.conference]
    (track,) = room.slots[(site, "video")].tracks
    assert track.leg is not None
    return track


async def test_every_frame_decodes_and_sender_reports_carry_the_fanouts_counts(
    running: Any,
) -> None:
    site = SiteBot(parse_link(running.link("site", "warsaw")), ice_addresses=LOOP)
    await site.start()
    viewer = ViewerBot(parse_link(running.link("participant")), ice_addresses=LOOP, decode=True)
    await viewer.start(sites=["warsaw"])
    try:
        counts = viewer.counts["warsaw"]
        await until(lambda: counts.video_frames >= 60, "60 video frames")
        assert counts.decode_errors == 0
        assert counts.decoded_frames == counts.video_frames
        assert counts.keyframes >= 1
        track = video_track(running, "warsaw")
        leg = track.leg
        assert leg is not None
        # Where confsvc.media._wire is built, these frames went out through it (C).
        path = leg.wire._path
        assert path is not None
        assert (path._native is not None) == (internals.NATIVE is not None)
        # The sender's own RTCP sender reports count what the fan-out sent for it.
        assert leg.hooks.counts()[0] == leg.packets > 0
        # The viewer's receiver reports answer those sender reports: aiortc's sender
        # computes a round-trip time from them only if our NTP/RTP clocks made sense.
        sender = leg.hooks.sender

        async def rtt() -> float | None:
            for stat in (await sender.getStats()).values():
                if stat.type == "remote-inbound-rtp" and stat.roundTripTime is not None:
                    return float(stat.roundTripTime)
            return None

        deadline = asyncio.get_running_loop().time() + 15
        value = await rtt()
        while value is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.25)
            value = await rtt()
        assert value is not None and 0 <= value < 1.0
        # Those receiver reports reached the sender through the relay's own RTCP reader.
        assert leg.rtcp is not None and leg.rtcp.handled > 0
    finally:
        await viewer.close()
        await site.close()


@pytest.mark.parametrize("retransmit", [True, False], ids=["nack-rtx", "no-retransmission"])
async def test_a_lossy_link_loses_no_frame_when_nacks_are_answered(
    running: Any, monkeypatch: pytest.MonkeyPatch, retransmit: bool
) -> None:
    dropped: list[int] = []
    counter = iter(range(1, 1 << 30))
    video_ssrcs: set[bytes] = set()

    original = internals.Path.send

    def lossy(self: internals.Path, datagrams: list[bytes]) -> int:
        # Only first transmissions of video: the media SSRC is in the clear SRTP header,
        # RTX goes out on its own SSRC, and audio has no retransmission.
        kept = []
        for data in datagrams:
            if data[8:12] in video_ssrcs and next(counter) % DROP_EVERY == 0:
                dropped.append(int.from_bytes(data[2:4], "big"))
            else:
                kept.append(data)
        return original(self, kept)

    original_one = internals.Path.send_one

    def lossy_one(self: internals.Path, data: bytes) -> int:
        # A one-packet frame goes out through send_one (RTX too, on its own SSRC).
        if data[8:12] in video_ssrcs and next(counter) % DROP_EVERY == 0:
            dropped.append(int.from_bytes(data[2:4], "big"))
            return 0
        return original_one(self, data)

    monkeypatch.setattr(internals.Path, "send", lossy)
    monkeypatch.setattr(internals.Path, "send_one", lossy_one)
    # The loss is made in Python: frames take the Python path (the C one never calls these).
    monkeypatch.setattr(internals.Path, "send_rtp", internals.Path.send_rtp_python)
    monkeypatch.setattr(fanout, "_NATIVE_FAN_OUT", None)  # nor the C loop over subscribers
    site = SiteBot(parse_link(running.link("site", "olsztyn")), ice_addresses=LOOP)
    await site.start()
    viewer = ViewerBot(parse_link(running.link("participant")), ice_addresses=LOOP, decode=True)
    await viewer.start(sites=["olsztyn"])
    try:
        track = video_track(running, "olsztyn")
        leg = track.leg
        assert leg is not None
        video_ssrcs.add(leg.ssrc.to_bytes(4, "big"))
        if not retransmit:
            monkeypatch.setattr(leg, "rtx_payload_type", None)  # NACKs go unanswered
        counts = viewer.counts["olsztyn"]
        await until(lambda: track.gate.forwarded >= 240, "240 frames forwarded")
    finally:
        await site.close()  # no more frames: what was sent either arrived or is lost
    try:
        # Let the last NACKs and retransmissions land: until nothing arrives for 0.5 s.
        last, quiet_since = -1, asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - quiet_since < 0.5:
            if counts.video_frames != last:
                last, quiet_since = counts.video_frames, asyncio.get_running_loop().time()
            await asyncio.sleep(0.05)
        missing = track.gate.forwarded - counts.video_frames
        seen = (
            f"forwarded {track.gate.forwarded}, received {counts.video_frames}, decoded "
            f"{counts.decoded_frames}, errors {counts.decode_errors}, dropped {len(dropped)}, "
            f"retransmitted {leg.retransmits}, NACKs not in history {leg.nacks_missed}, "
            f"refused by the socket {getattr(leg.wire._path, 'dropped', None)}"
        )
        assert len(dropped) >= 20, seen
        assert counts.decode_errors == 0, seen  # the jitter buffer never passes a broken frame
        if retransmit:
            assert leg.retransmits >= len(dropped) - 2, seen
            assert leg.rtcp is not None and leg.rtcp.handled > 0, seen  # the NACKs came so
            assert missing <= 2, seen  # at most the last frames, whose loss nothing reveals
            assert counts.decoded_frames == counts.video_frames, seen
        else:
            assert leg.retransmits == 0, seen
            assert missing > 10, seen
    finally:
        await viewer.close()
