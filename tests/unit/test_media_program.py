"""The program follows the floor: video switched at keyframes, audio of the source, a
consumer starting on a keyframe; driven through a real ``Room`` and the relay's real
slot forwarder (``fanout.SlotFanout``), with the fake clock of the room's tests."""

from __future__ import annotations

from confsvc.media.egress import Tap, Timeline, vp8_size
from confsvc.media.fanout import SlotFanout
from confsvc.media.program import Program, ProgramPacket
from confsvc.media.room import Room, SiteFeed
from tests.unit.test_media_room import DELTA, KEY, FakeClock

SITES = ["weifang", "olsztyn"]


class Sink:
    def __init__(self) -> None:
        self.got: list[ProgramPacket] = []
        self.closed = 0

    def program_packet(self, packet: ProgramPacket) -> None:
        self.got.append(packet)

    def program_closed(self) -> None:
        self.closed += 1


def make_room(clock: FakeClock, floor: list[str]) -> tuple[Room, dict[str, SiteFeed], list[str]]:
    room = Room("c1", floor, clock=clock, forwarder=SlotFanout)
    feeds, plis = {}, []
    for site in SITES:
        feed = SiteFeed(room, site, peer=object())
        feed.send_pli = lambda site=site: plis.append(site)
        room.attach_feed(feed)
        feeds[site] = feed
    return room, feeds, plis


def test_program_carries_the_floor_site_and_switches_at_its_keyframe() -> None:
    clock = FakeClock()
    room, feeds, plis = make_room(clock, ["weifang"])
    program = Program(room, SITES, clock=clock)
    sink = Sink()
    program.add_consumer(sink)
    assert sorted(plis) == ["olsztyn", "weifang"]  # each video tap asked on joining
    feeds["weifang"].on_video(KEY, 3000, True)
    feeds["olsztyn"].on_video(KEY, 3000, True)
    feeds["weifang"].on_audio(b"w-audio", 960, True)
    feeds["olsztyn"].on_audio(b"o-audio", 960, True)  # not on the floor: the room drops it
    assert [(p.kind, p.site, p.data) for p in sink.got] == [
        ("video", "weifang", KEY),
        ("audio", "weifang", b"w-audio"),
    ]
    clock.advance(1.0)
    room.set_floor(["olsztyn"])
    feeds["weifang"].on_video(DELTA, 6000, False)  # the floor moved: olsztyn is asked
    assert plis[-1] == "olsztyn"
    feeds["olsztyn"].on_video(DELTA, 6000, False)  # not a keyframe: not switched yet
    feeds["olsztyn"].on_audio(b"o-audio2", 1920, True)
    feeds["olsztyn"].on_video(KEY, 9000, True)
    feeds["weifang"].on_video(DELTA, 9000, False)
    assert [(p.kind, p.site, p.keyframe) for p in sink.got[2:]] == [
        ("video", "weifang", False),
        ("audio", "olsztyn", True),
        ("video", "olsztyn", True),
    ]
    assert program.source == "olsztyn"
    assert program.switches == 2  # none -> weifang -> olsztyn


def test_a_consumer_added_late_starts_on_a_keyframe() -> None:
    clock = FakeClock()
    room, feeds, plis = make_room(clock, ["weifang"])
    program = Program(room, SITES, clock=clock)
    feeds["weifang"].on_video(KEY, 3000, True)
    feeds["weifang"].on_video(DELTA, 6000, False)
    sink = Sink()
    clock.advance(1.0)  # the keyframe requests merged so far have gone out
    plis.clear()
    program.add_consumer(sink)
    assert plis == ["weifang"]
    feeds["weifang"].on_audio(b"a", 960, True)
    feeds["weifang"].on_video(DELTA, 9000, False)
    feeds["weifang"].on_video(KEY, 12000, True)
    assert [(p.kind, p.keyframe) for p in sink.got] == [("video", True)]


def test_closing_leaves_the_room_and_tells_each_consumer_once() -> None:
    clock = FakeClock()
    room, feeds, _plis = make_room(clock, ["weifang"])
    program = Program(room, SITES, clock=clock)
    sink = Sink()
    program.add_consumer(sink)
    assert len(room.slot("weifang", "video").tracks) == 1
    program.close()
    program.close()
    assert sink.closed == 1
    assert all(not s.tracks for s in room.slots.values())
    feeds["weifang"].on_video(KEY, 3000, True)
    assert sink.got == []


def test_a_tap_is_gated_again_after_a_loss_upstream() -> None:
    clock = FakeClock()
    room, feeds, _plis = make_room(clock, ["weifang"])
    got: list[bytes] = []
    tap = Tap(room, "weifang", "video", lambda _t, data, _ts, _k: got.append(data))
    tap.join()
    feeds["weifang"].on_video(KEY, 3000, True)
    feeds["weifang"].on_loss()
    feeds["weifang"].on_video(DELTA, 6000, False)
    feeds["weifang"].on_video(KEY, 9000, True)
    assert got == [KEY, KEY]


def test_timeline_follows_timestamps_and_rebases_on_a_jump() -> None:
    t = Timeline("video")
    assert t.ms(90_000, 500.0) == 500.0
    assert t.ms(93_000, 540.0) == 500.0 + 3000 / 90  # steady, not the jittery arrival
    assert t.ms(93_000 + 90_000 * 60, 2000.0) == 2000.0  # a minute ahead of arrival
    assert t.rebases == 1
    assert t.ms(2**32 - 1000, 10.0) == 10.0  # far off again: rebased
    assert round(t.ms(2000, 10.0 + 3000 / 90), 6) == round(10.0 + 3000 / 90, 6)  # wrapped


def test_vp8_size_reads_a_key_frame_header_only() -> None:
    key = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01])
    assert vp8_size(key) == (640, 480)
    assert vp8_size(bytes([0x11]) + key[1:]) is None
    assert vp8_size(b"\x10") is None
