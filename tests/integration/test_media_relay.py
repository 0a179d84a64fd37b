"""The relay through the app: site bots publish, a viewer bot receives every site's video,
audio follows the floor, and every peer is freed when its socket goes."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest

from confsvc.media.bot import SiteBot, ViewerBot, parse_link
from confsvc.media.setup import RELAY
from tests.integration.media_helpers import collect_garbage, until  # noqa: F401

SITES = ["warsaw", "olsztyn", "weifang"]
LOOP = ["127.0.0.1"]


@pytest.fixture
async def sites(running: Any) -> Any:
    bots = [SiteBot(parse_link(running.link("site", s)), ice_addresses=LOOP) for s in SITES]
    await asyncio.gather(*(b.start() for b in bots))
    yield bots
    await asyncio.gather(*(b.close() for b in bots))


async def test_viewer_bot_receives_video_from_every_site_starting_on_a_keyframe(
    running: Any, sites: list[SiteBot]
) -> None:
    viewer = ViewerBot(parse_link(running.link("participant")), ice_addresses=LOOP)
    await viewer.start()
    try:
        await until(
            lambda: all(viewer.counts[s].video_frames >= 30 for s in SITES), "30 frames per site"
        )
        for s in SITES:
            c = viewer.counts[s]
            assert c.keyframes >= 1
            assert c.first_frame_ms is not None
        # The relay saw all three feeds and a subscriber per slot.
        stats = running.app[RELAY].stats()["rooms"][running.conference]
        assert sorted(stats["sites"]) == sorted(SITES)
        assert all(stats["subscribers"][f"{s}/video"] == 1 for s in SITES)
    finally:
        await viewer.close()


async def test_audio_follows_the_floor_when_the_host_moves_on(
    running: Any, sites: list[SiteBot]
) -> None:
    viewer = ViewerBot(parse_link(running.link("participant")), ice_addresses=LOOP)
    await viewer.start()
    host = await running.ws("host")
    try:
        # Before the start nobody holds the floor: video flows, audio does not.
        await until(lambda: viewer.counts["warsaw"].video_frames >= 10, "video before start")
        assert all(viewer.counts[s].audio_frames == 0 for s in SITES)
        assert (await host.command("ros.start"))["type"] == "ack"  # item 1: floor [warsaw]
        await until(lambda: viewer.counts["warsaw"].audio_frames >= 25, "audio from warsaw")
        assert viewer.counts["olsztyn"].audio_frames == 0
        assert (await host.command("ros.next"))["type"] == "ack"  # item 2: floor [olsztyn]
        await until(lambda: viewer.counts["olsztyn"].audio_frames >= 5, "audio from olsztyn")
        stopped_at = viewer.counts["warsaw"].audio_frames
        before = viewer.counts["olsztyn"].audio_frames
        await until(lambda: viewer.counts["olsztyn"].audio_frames >= before + 50, "1 s of olsztyn")
        assert viewer.counts["warsaw"].audio_frames == stopped_at
        assert viewer.counts["weifang"].audio_frames == 0
        changes = running.app[RELAY].stats()["rooms"][running.conference]["floor_changes"]
        assert [c["floor"] for c in changes] == [["warsaw"], ["olsztyn"]]
        assert all("gate_ms" in c for c in changes)
    finally:
        await host.close()
        await viewer.close()


async def test_a_late_viewer_starts_on_a_keyframe_requested_from_the_site(
    running: Any, sites: list[SiteBot]
) -> None:
    first = ViewerBot(parse_link(running.link("participant")), ice_addresses=LOOP)
    await first.start()
    await until(lambda: first.counts["weifang"].video_frames >= 5, "first viewer's frames")
    plis_before = running.app[RELAY].stats()["rooms"][running.conference]["sites"]["weifang"][
        "plis"
    ]
    late = ViewerBot(parse_link(running.link("participant")), ice_addresses=LOOP)
    await late.start()
    try:
        await until(lambda: late.counts["weifang"].video_frames >= 1, "late viewer's first frame")
        assert late.counts["weifang"].keyframes >= 1
        stats = running.app[RELAY].stats()["rooms"][running.conference]["sites"]["weifang"]
        assert stats["plis"] > plis_before
    finally:
        await late.close()
        await first.close()


async def test_a_hundred_join_leave_cycles_leave_no_peer_track_task_or_thread(running: Any) -> None:
    relay = running.app[RELAY]
    link = parse_link(running.link("participant"))
    warm = ViewerBot(link, ice_addresses=LOOP)
    await warm.start()
    await warm.close()
    await until(lambda: relay.stats()["peers"] == 0, "warm-up peer freed")
    tasks0 = len(asyncio.all_tasks())
    threads0 = threading.active_count()
    gc.collect()
    objects0 = media_objects()
    for _ in range(100):
        bot = ViewerBot(link, ice_addresses=LOOP)
        await bot.start()
        await bot.close()
    await until(lambda: relay.stats()["peers"] == 0, "every peer freed")
    await until(lambda: threading.active_count() <= threads0, "decoder threads gone", 10)
    await until(lambda: len(asyncio.all_tasks()) <= tasks0 + 2, "tasks gone", 10)
    assert relay.stats() == {
        "mode": "passthrough",
        "peers": 0,
        "tracks": 0,
        "feeds": 0,
        "rooms": {},
    }
    # Memory is flat: no connection, sender, track or fan-out leg outlives its cycle.
    del bot
    gc.collect()
    assert media_objects() == objects0


def media_objects() -> dict[str, int]:
    from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender

    from confsvc.media.fanout import ForwardTrack, Leg
    from confsvc.media.peer import Peer

    kinds = (RTCPeerConnection, RTCRtpSender, RTCRtpReceiver, Peer, ForwardTrack, Leg)
    counts = dict.fromkeys((k.__name__ for k in kinds), 0)
    for obj in gc.get_objects():
        for k in kinds:
            if isinstance(obj, k):
                counts[k.__name__] += 1
    return counts


async def test_a_question_on_air_gives_its_sites_the_floor_in_the_relay(running: Any) -> None:
    from confsvc.core.floor import on_air_event

    viewer = ViewerBot(parse_link(running.link("participant")), ice_addresses=LOOP)
    await viewer.start()
    host = await running.ws("host")
    try:
        assert (await host.command("ros.start"))["type"] == "ack"
        room = running.app[RELAY].rooms[running.conference]
        assert room.floor == {"warsaw"}
        hub = await running.hub()
        await hub.append_system([on_air_event(["olsztyn", "weifang"])])
        assert room.floor == {"warsaw", "olsztyn", "weifang"}
        await hub.append_system([on_air_event([])])
        assert room.floor == {"warsaw"}
    finally:
        await host.close()
        await viewer.close()
