"""Keyframe gating, upstream loss, PLI throttling and the floor, without any network."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import av

from confsvc.config import Config
from confsvc.media import relay as relay_mod
from confsvc.media.relay import ForwardTrack, Relay, SiteFeed


def packet(pts: int, data: bytes = b"\x11xx") -> Any:
    p = av.Packet(data)
    p.pts, p.time_base = pts, Fraction(1, 90000)
    return p


class FakePeer:
    pass


def make_room(floor: list[str]) -> Any:
    relay = Relay(Config(ice_addresses=["127.0.0.1"]))
    return relay.room("conf", floor)


async def started_track(room: Any, site: str, kind: str) -> ForwardTrack:
    track = ForwardTrack(room, site, kind)
    room.slot(site, kind).tracks.add(track)
    task = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)  # the sender's first read marks the track started
    task.cancel()
    return track


def drain(track: ForwardTrack) -> list[bool]:
    out = []
    while not track._queue.empty():
        p = track._queue.get_nowait()
        assert p is not None
        out.append(bytes(p)[0] & 1 == 0)
    return out


async def test_a_subscriber_starts_on_a_keyframe_and_asks_the_publisher_for_one() -> None:
    room = make_room([])
    feed = SiteFeed(room, "warsaw", FakePeer())  # type: ignore[arg-type]
    sent: list[int] = []

    async def send_pli(ssrc: int) -> None:
        sent.append(ssrc)

    feed.send_pli, feed.video_ssrc = send_pli, 1234
    room.feeds["warsaw"] = feed
    track = await started_track(room, "warsaw", "video")
    await asyncio.sleep(0)
    assert sent == [1234]  # the first read asked for a keyframe
    feed.on_video(packet(0), False)
    feed.on_video(packet(3000, b"\x10key"), True)
    feed.on_video(packet(6000), False)
    assert drain(track) == [True, False]
    assert track.dropped == 1


async def test_upstream_loss_gates_subscribers_until_the_next_keyframe() -> None:
    room = make_room([])
    feed = SiteFeed(room, "olsztyn", FakePeer())  # type: ignore[arg-type]
    room.feeds["olsztyn"] = feed
    track = await started_track(room, "olsztyn", "video")
    feed.on_video(packet(0, b"\x10key"), True)
    feed.on_video(packet(3000), False)
    feed.on_loss()
    feed.on_video(packet(9000), False)  # would show corruption: dropped
    feed.on_video(packet(12000, b"\x10key"), True)
    feed.on_video(packet(15000), False)
    assert drain(track) == [True, False, True, False]
    assert feed.losses == 1


async def test_keyframe_requests_are_throttled_and_merged(monkeypatch: Any) -> None:
    monkeypatch.setattr(relay_mod, "PLI_INTERVAL_S", 0.2)
    room = make_room([])
    feed = SiteFeed(room, "weifang", FakePeer())  # type: ignore[arg-type]
    sent: list[float] = []

    async def send_pli(ssrc: int) -> None:
        sent.append(asyncio.get_running_loop().time())

    feed.send_pli, feed.video_ssrc = send_pli, 1
    for _ in range(10):
        feed.request_keyframe()  # e.g. ten subscribers' PLIs at once
    await asyncio.sleep(0.05)
    assert len(sent) == 1
    feed.request_keyframe()
    feed.request_keyframe()
    await asyncio.sleep(0.3)
    assert len(sent) == 2  # the two later requests became one, after the interval
    feed.detach()


async def test_audio_is_forwarded_only_from_the_floor() -> None:
    room = make_room(["warsaw"])
    feeds = {s: SiteFeed(room, s, FakePeer()) for s in ("warsaw", "olsztyn")}  # type: ignore[arg-type]
    tracks = {s: await started_track(room, s, "audio") for s in feeds}
    for f in feeds.values():
        f.on_audio(packet(0, b"\x78a"), True)
    assert [tracks[s]._queue.qsize() for s in feeds] == [1, 0]
    assert room.set_floor(["olsztyn"], decided_at=None)
    for f in feeds.values():
        f.on_audio(packet(960, b"\x78b"), True)
    assert [tracks[s]._queue.qsize() for s in feeds] == [1, 1]


async def test_a_new_publisher_continues_the_slot_timeline() -> None:
    room = make_room([])
    track = await started_track(room, "warsaw", "video")
    first = SiteFeed(room, "warsaw", FakePeer())  # type: ignore[arg-type]
    first.on_video(packet(0, b"\x10k"), True)
    first.on_video(packet(90000), False)
    second = SiteFeed(room, "warsaw", FakePeer())  # type: ignore[arg-type]
    second.on_video(packet(0, b"\x10k"), True)  # its own clock starts again at 0
    pts = []
    while not track._queue.empty():
        p = track._queue.get_nowait()
        assert p is not None
        pts.append(p.pts)
    assert pts == sorted(pts) and len(set(pts)) == 3


async def test_a_subscriber_that_falls_behind_restarts_on_a_keyframe() -> None:
    room = make_room([])
    feed = SiteFeed(room, "warsaw", FakePeer())  # type: ignore[arg-type]
    track = await started_track(room, "warsaw", "video")
    feed.on_video(packet(0, b"\x10k"), True)
    for i in range(1, relay_mod.QUEUE_FRAMES + 5):
        feed.on_video(packet(i * 3000), False)
    assert track.need_keyframe
    feed.on_video(packet(999000, b"\x10k"), True)
    assert drain(track)[0] is True
