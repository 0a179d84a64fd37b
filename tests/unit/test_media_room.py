"""The room's rules without aiortc, a network or a sleep: slots, the floor, the keyframe
gate, PLI throttling and the slot timeline, driven by a fake clock.

``test_media_gating.py`` runs the same rules through the relay's real ``ForwardTrack``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from confsvc.media import room as room_mod
from confsvc.media.room import KeyframeGate, Room, SiteFeed

KEY = b"\x10key"  # VP8 frame tag bit 0 = 0: a keyframe
DELTA = b"\x11xx"


class FakeTimer:
    def __init__(self, clock: FakeClock, due: float, callback: Callable[[], None]) -> None:
        self.clock, self.due, self.callback = clock, due, callback

    def cancel(self) -> None:
        self.clock.timers.remove(self)


class FakeClock:
    """Time moves only when the test says so; timers run in ``advance``."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[FakeTimer] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_600_000_000.0 + self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self, self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        for timer in sorted(self.timers, key=lambda t: t.due):
            if timer.due <= end:
                self.timers.remove(timer)
                self.now = timer.due  # each timer runs at its own time
                timer.callback()
        self.now = end


class FakeSubscriber:
    """A slot's subscriber that keeps what the gate lets through."""

    def __init__(self, site: str, kind: str) -> None:
        self.site, self.kind = site, kind
        self.gate = KeyframeGate(kind)
        self.got: list[tuple[bytes, int, bool]] = []
        self.stopped = False

    def deliver(self, frame: Any) -> None:
        data, pts, keyframe = frame
        if self.gate.admit(keyframe):
            self.got.append((data, pts, keyframe))

    def count(self, into: dict[str, int]) -> None:
        into["packets"] = into.get("packets", 0) + len(self.got)

    def retire(self, into: dict[str, int]) -> None:
        self.count(into)
        self.got = []

    def stop(self) -> None:
        self.stopped = True


class Direct:
    """A forwarder that hands the frame as it is to every subscriber."""

    def forward(self, data: bytes, pts: int, keyframe: bool, subscribers: Any) -> None:
        for s in subscribers:
            s.deliver((data, pts, keyframe))


def make_room(floor: list[str] | None = None) -> tuple[Room, FakeClock]:
    clock = FakeClock()
    room = Room("conf", floor or [], clock=clock, forwarder=lambda kind: Direct())
    return room, clock


def subscriber(room: Room, site: str, kind: str, started: bool = True) -> FakeSubscriber:
    s = FakeSubscriber(site, kind)
    room.subscribe(s)
    if started:
        s.gate.start()
    return s


def feed_of(room: Room, site: str, plis: list[float] | None = None) -> SiteFeed:
    feed = SiteFeed(room, site, peer=object())
    if plis is not None:
        feed.send_pli = lambda: plis.append(room.clock.monotonic())
    room.feeds[site] = feed
    return feed


def test_the_room_module_needs_no_aiortc() -> None:
    code = "import sys, confsvc.media.room; print(sorted(m for m in sys.modules if 'aiortc' in m or m == 'asyncio'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_video_gate_opens_on_the_first_keyframe_after_it_started() -> None:
    gate = KeyframeGate("video")
    assert gate.admit(True) is False  # not started: the connection is not up yet
    assert gate.start() is True  # video asks for a keyframe, once
    assert gate.start() is False
    assert [gate.admit(k) for k in (False, False, True, False)] == [False, False, True, True]
    assert gate.dropped == 2


def test_an_audio_gate_needs_no_keyframe_and_never_waits() -> None:
    gate = KeyframeGate("audio")
    assert gate.start() is False
    assert gate.admit(False) is True
    assert gate.wait_for_keyframe() is False
    assert gate.admit(False) is True


def test_a_subscriber_starts_on_a_keyframe() -> None:
    room, _clock = make_room()
    feed = feed_of(room, "warsaw")
    sub = subscriber(room, "warsaw", "video")
    for data, ts in ((DELTA, 0), (KEY, 3000), (DELTA, 6000)):
        feed.on_video(data, ts, data == KEY)
    assert [k for _d, _p, k in sub.got] == [True, False]
    assert (feed.frames, feed.keyframes) == ({"audio": 0, "video": 3}, 1)


def test_upstream_loss_gates_every_video_subscriber_of_the_site_only() -> None:
    room, _clock = make_room(["warsaw", "olsztyn"])
    warsaw, olsztyn = feed_of(room, "warsaw"), feed_of(room, "olsztyn")
    w, o = subscriber(room, "warsaw", "video"), subscriber(room, "olsztyn", "video")
    warsaw.on_video(KEY, 0, True)
    olsztyn.on_video(KEY, 0, True)
    warsaw.on_loss()
    warsaw.on_video(DELTA, 3000, False)  # would show corruption: dropped
    olsztyn.on_video(DELTA, 3000, False)  # another site: not gated
    warsaw.on_video(KEY, 6000, True)
    assert [k for _d, _p, k in w.got] == [True, True]
    assert [k for _d, _p, k in o.got] == [True, False]
    assert (warsaw.losses, olsztyn.losses) == (1, 0)


def test_audio_is_forwarded_only_from_the_floor_and_follows_it() -> None:
    room, clock = make_room(["warsaw"])
    feeds = {s: feed_of(room, s) for s in ("warsaw", "olsztyn")}
    subs = {s: subscriber(room, s, "audio") for s in feeds}
    for f in feeds.values():
        f.on_audio(b"a", 0, True)
    assert [len(subs[s].got) for s in feeds] == [1, 0]
    assert room.set_floor(["olsztyn"], decided_at=clock.wall() - 0.002)
    assert not room.set_floor(["olsztyn"])  # no change, nothing recorded
    for f in feeds.values():
        f.on_audio(b"b", 960, True)
    assert [len(subs[s].got) for s in feeds] == [1, 1]
    assert room.floor_changes == [{"floor": ["olsztyn"], "at": clock.wall(), "gate_ms": 2.0}]


def test_keyframe_requests_are_throttled_and_merged() -> None:
    room, clock = make_room()
    plis: list[float] = []
    feed = feed_of(room, "weifang", plis)
    for _ in range(10):
        feed.request_keyframe()  # e.g. ten subscribers' PLIs at once
    assert plis == [100.0]
    clock.advance(0.1)
    feed.request_keyframe()
    feed.request_keyframe()
    assert plis == [100.0]  # held back
    clock.advance(room_mod.PLI_INTERVAL_S)
    assert plis == [100.0, pytest.approx(100.0 + room_mod.PLI_INTERVAL_S)]  # the two became one
    assert feed.plis == 2


def test_a_loss_counts_as_a_keyframe_request_for_the_throttle() -> None:
    room, clock = make_room()
    plis: list[float] = []
    feed = feed_of(room, "warsaw", plis)
    feed.on_loss()  # aiortc sent its own PLI just now
    feed.request_keyframe()
    assert plis == []
    clock.advance(room_mod.PLI_INTERVAL_S)
    assert len(plis) == 1


def test_a_detached_feed_asks_for_nothing_more() -> None:
    room, clock = make_room()
    plis: list[float] = []
    feed = feed_of(room, "warsaw", plis)
    feed.request_keyframe()
    feed.request_keyframe()  # waits for the interval
    room.detach_feed(feed)
    clock.advance(1.0)
    assert plis == [100.0]
    assert clock.timers == []
    assert room.retired == {"plis": 1}
    assert "warsaw" not in room.feeds


def test_a_subscriber_asks_the_site_through_the_room() -> None:
    room, _clock = make_room()
    plis: list[float] = []
    feed_of(room, "warsaw", plis)
    room.request_keyframe("warsaw")
    room.request_keyframe("nobody")  # not publishing: nothing to ask
    assert plis == [100.0]


def test_a_new_publisher_continues_the_slot_timeline() -> None:
    room, _clock = make_room()
    sub = subscriber(room, "warsaw", "video")
    first = SiteFeed(room, "warsaw", peer=object())
    first.on_video(KEY, 0, True)
    first.on_video(DELTA, 90000, False)
    second = SiteFeed(room, "warsaw", peer=object())
    second.on_video(KEY, 0, True)  # its own clock starts again at 0
    pts = [p for _d, p, _k in sub.got]
    assert pts == [pts[0], pts[0] + 90000, pts[0] + 90000 + room_mod.STEP["video"]]


def test_a_slot_without_subscribers_forwards_nothing() -> None:
    room, _clock = make_room()
    feed = feed_of(room, "warsaw")
    feed.on_video(KEY, 0, True)
    assert set(room.slots) == {("warsaw", "video")}  # the timeline is kept all the same
    assert room.slots[("warsaw", "video")].tracks == set()


def test_attaching_a_feed_names_the_peer_it_replaces_and_tells_about_the_sites() -> None:
    room, _clock = make_room()
    changes: list[list[str]] = []
    room.on_sites_changed = lambda r: changes.append(r.live_sites())
    old_peer, new_peer = object(), object()
    first = SiteFeed(room, "warsaw", old_peer)
    assert room.attach_feed(first) is None
    assert room.attach_feed(SiteFeed(room, "warsaw", old_peer)) is None  # same peer
    assert room.attach_feed(SiteFeed(room, "warsaw", new_peer)) is old_peer
    room.detach_feed(first)  # no longer the site's feed: the newer one stays
    assert room.live_sites() == ["warsaw"]
    assert changes == [["warsaw"], ["warsaw"], ["warsaw"]]


def test_a_failing_sites_hook_does_not_stop_the_room(caplog: pytest.LogCaptureFixture) -> None:
    room, _clock = make_room()

    def broken(r: Room) -> None:
        raise RuntimeError("boom")

    room.on_sites_changed = broken
    room.attach_feed(SiteFeed(room, "warsaw", object()))
    assert room.live_sites() == ["warsaw"]
    assert "sites-changed hook failed" in caplog.text


def test_removing_a_subscriber_retires_its_counts_and_stops_it() -> None:
    room, _clock = make_room()
    feed = feed_of(room, "warsaw")
    sub = subscriber(room, "warsaw", "audio")
    room.set_floor(["warsaw"])
    feed.on_audio(b"a", 0, True)
    room.remove_track(sub)
    assert sub.stopped
    assert room.retired == {"packets": 1}
    assert room.stats()["subscribers"] == {"warsaw/audio": 0}
    assert not room.idle()  # the feed is still there
    room.detach_feed(feed)
    assert room.idle()


def test_floor_changes_keep_the_latest_only() -> None:
    room, _clock = make_room()
    for i in range(room_mod.FLOOR_CHANGES_KEPT + 5):
        room.set_floor([f"site{i}"])
    assert len(room.floor_changes) == room_mod.FLOOR_CHANGES_KEPT
    assert room.floor_changes[-1]["floor"] == [f"site{room_mod.FLOOR_CHANGES_KEPT + 4}"]
    assert [c["floor"] for c in room.stats()["floor_changes"]][-1] == room.floor_changes[-1][
        "floor"
    ]
    assert len(room.stats()["floor_changes"]) == 10
