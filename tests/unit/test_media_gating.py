"""Keyframe gating, upstream loss, PLI throttling and the floor, without any network.

Subscribers are ``ForwardTrack``s with a ``FakeLeg`` that records what the fan-out hands
it (the real ``Leg`` is tested with real connections in
``tests/integration/test_media_fanout.py``). The rules themselves are tested without aiortc
in ``test_media_room.py``; the bench's ``pack`` mode in ``test_bench_relay_modes.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from confsvc.config import Config
from confsvc.media.fanout import ForwardTrack, Frame
from confsvc.media.relay import Relay
from confsvc.media.room import SiteFeed

DELTA = b"\x11xx"  # VP8 frame tag bit 0 = 1: an inter frame


class FakePeer:
    pass


class FakeLeg:
    """Stands in for a connected ``Leg``: records the frames it is asked to send."""

    def __init__(self) -> None:
        self.ready = True
        self.frames: list[Frame] = []
        self.accept = True

    def read_rtcp(self) -> None:
        """The real one takes over the connection's RTCP: there is none here."""

    def send(self, frame: Frame) -> bool:
        if self.accept:
            self.frames.append(frame)
        return self.accept


def make_room(floor: list[str]) -> Any:
    relay = Relay(Config(ice_addresses=["127.0.0.1"]))
    return relay.room("conf", floor)


async def started_track(room: Any, site: str, kind: str) -> ForwardTrack:
    track = ForwardTrack(room, site, kind, FakeLeg())  # type: ignore[arg-type]
    room.subscribe(track)
    task = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)  # the sender's first read marks the track started
    task.cancel()
    return track


def drain(track: ForwardTrack) -> list[bool]:
    """Keyframe flags of what reached the subscriber so far (and forget them)."""
    leg: Any = track.leg
    out = [f.keyframe for f in leg.frames]
    leg.frames.clear()
    return out


def timestamps(track: ForwardTrack) -> list[int]:
    leg: Any = track.leg
    return [f.timestamp for f in leg.frames]


async def test_a_subscriber_starts_on_a_keyframe_and_asks_the_publisher_for_one() -> None:
    room = make_room([])
    feed = SiteFeed(room, "warsaw", FakePeer())
    sent: list[str] = []
    feed.send_pli = lambda: sent.append("pli")
    room.feeds["warsaw"] = feed
    track = await started_track(room, "warsaw", "video")
    assert sent == ["pli"]  # the first read asked for a keyframe
    feed.on_video(DELTA, 0, False)
    feed.on_video(b"\x10key", 3000, True)
    feed.on_video(DELTA, 6000, False)
    assert drain(track) == [True, False]
    assert track.gate.dropped == 1


async def test_upstream_loss_gates_subscribers_until_the_next_keyframe() -> None:
    room = make_room([])
    feed = SiteFeed(room, "olsztyn", FakePeer())
    room.feeds["olsztyn"] = feed
    track = await started_track(room, "olsztyn", "video")
    feed.on_video(b"\x10key", 0, True)
    feed.on_video(DELTA, 3000, False)
    feed.on_loss()
    feed.on_video(DELTA, 9000, False)  # would show corruption: dropped
    feed.on_video(b"\x10key", 12000, True)
    feed.on_video(DELTA, 15000, False)
    assert drain(track) == [True, False, True, False]
    assert feed.losses == 1


async def test_audio_is_forwarded_only_from_the_floor() -> None:
    room = make_room(["warsaw"])
    feeds = {s: SiteFeed(room, s, FakePeer()) for s in ("warsaw", "olsztyn")}
    tracks = {s: await started_track(room, s, "audio") for s in feeds}
    for f in feeds.values():
        f.on_audio(b"\x78a", 0, True)
    assert [len(drain(tracks[s])) for s in feeds] == [1, 0]
    assert room.set_floor(["olsztyn"], decided_at=None)
    for f in feeds.values():
        f.on_audio(b"\x78b", 960, True)
    assert [len(drain(tracks[s])) for s in feeds] == [0, 1]


async def test_a_new_publisher_continues_the_slot_timeline() -> None:
    room = make_room([])
    track = await started_track(room, "warsaw", "video")
    first = SiteFeed(room, "warsaw", FakePeer())
    first.on_video(b"\x10k", 0, True)
    first.on_video(DELTA, 90000, False)
    second = SiteFeed(room, "warsaw", FakePeer())
    second.on_video(b"\x10k", 0, True)  # its own clock starts again at 0
    pts = timestamps(track)
    assert pts == sorted(pts) and len(set(pts)) == 3


async def test_a_subscriber_whose_connection_cannot_take_a_frame_restarts_on_a_keyframe() -> None:
    room = make_room([])
    feed = SiteFeed(room, "warsaw", FakePeer())
    track = await started_track(room, "warsaw", "video")
    leg: Any = track.leg
    feed.on_video(b"\x10k", 0, True)
    leg.accept = False  # e.g. its socket is backed up
    feed.on_video(DELTA, 3000, False)
    leg.accept = True
    feed.on_video(DELTA, 6000, False)  # would decode wrongly: dropped
    feed.on_video(b"\x10k", 9000, True)
    assert drain(track) == [True, True]
