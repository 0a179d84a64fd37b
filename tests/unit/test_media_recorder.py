"""The recorder writes what the room gives it, remuxed: a WebM per site and the program,
decoded back with PyAV; pauses leave no gap and nothing of what was said meanwhile;
chapters in the program file and in WebVTT. A real ``Room`` and slot forwarder, the
synthetic site's real VP8 and Opus (``media.pattern``), the fake clock of the room tests."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from confsvc.media import pattern
from confsvc.media.fanout import SlotFanout
from confsvc.media.program import Program
from confsvc.media.recorder import Recorder, webvtt_chapters
from confsvc.media.room import Room, SiteFeed, VoiceFeed, channel_slot
from confsvc.recording.files import parse_name
from tests.unit.test_media_room import FakeClock

SITES = ["weifang", "olsztyn"]
VIDEO = pattern.encode_video("WEIFANG")
AUDIO = pattern.encode_tone()


def make_room(clock: FakeClock) -> tuple[Room, dict[str, SiteFeed]]:
    room = Room("c1", ["weifang"], clock=clock, forwarder=SlotFanout)
    feeds = {}
    for site in SITES:
        feed = SiteFeed(room, site, peer=object())
        feed.send_pli = lambda: None
        room.attach_feed(feed)
        feeds[site] = feed
    return room, feeds


def play(clock: FakeClock, feeds: dict[str, SiteFeed], seconds: float, start: int) -> int:
    """Both sites send 30 fps video and 50 packets/s audio for ``seconds``; frame count."""
    frames = round(seconds * 30)
    for i in range(start, start + frames):
        for feed in feeds.values():
            feed.on_video(VIDEO[i % len(VIDEO)], 3000 * i, i % len(VIDEO) == 0)
            for j in (0, 1):
                k = 2 * i + j
                feed.on_audio(AUDIO[k % len(AUDIO)], 960 * k, True)
        clock.now += 1 / 30
    return start + frames


def decoded(path: Path) -> tuple[int, float, int]:
    """(video frames decoded, last video time in s, audio packets)."""
    with av.open(str(path)) as c:
        frames, last = 0, 0.0
        for frame in c.decode(video=0):
            frames += 1
            last = float(frame.time or 0.0)
    with av.open(str(path)) as c:
        audio = sum(1 for p in c.demux(audio=0) if p.size)
    return frames, last, audio


@pytest.mark.timeout(60)
async def test_every_site_and_the_program_are_written_and_decode(tmp_path: Path) -> None:
    clock = FakeClock()
    room, feeds = make_room(clock)
    program = Program(room, SITES, clock=clock)
    rec = Recorder(
        room, directory=tmp_path, take=1, sites=SITES, clock=clock, program=program, title="T"
    )
    n = play(clock, feeds, 2.0, 0)
    rec.pause()
    n = play(clock, feeds, 2.0, n)  # not recorded, and no gap for it in the files
    rec.resume()
    n = play(clock, feeds, 2.0, n)  # the pattern loops at 2 s: resumed on its keyframe
    chapters = [
        {"item": "a", "title": "Opening", "start_s": 0.0, "end_s": 1.0},
        {"item": "b", "title": "Q&A", "start_s": 1.0, "end_s": 4.0},
    ]
    rec.set_chapters(chapters, webvtt_chapters(chapters, lambda c: str(c["title"])))
    await rec.close()
    program.close()
    part = rec.part
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        [
            f"{part}-weifang.webm",
            f"{part}-olsztyn.webm",
            f"{part}-program.webm",
            f"{part}-program.vtt",
            f"{part}.json",
        ]
    )
    frames, last, audio = decoded(tmp_path / f"{part}-weifang.webm")
    assert frames == 120  # 2 s + 2 s at 30 fps; the 2 s paused are not there
    assert last < 4.2
    assert audio == 240  # weifang holds the floor: its sound is in its file
    frames, _last, audio = decoded(tmp_path / f"{part}-olsztyn.webm")
    assert (frames, audio) == (120, 0)  # off the floor: nobody heard it, nothing recorded
    frames, _last, audio = decoded(tmp_path / f"{part}-program.webm")
    assert (frames, audio) == (120, 240)
    with av.open(str(tmp_path / f"{part}-program.webm")) as c:
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["Opening", "Q&A"]
    vtt = (tmp_path / f"{part}-program.vtt").read_text("utf-8")
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\nOpening\n")
    assert all(not s.tracks for s in room.slots.values())


@pytest.mark.timeout(60)
async def test_a_file_starts_on_a_keyframe_and_audio_only_sources_get_a_file(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    room, feeds = make_room(clock)
    rec = Recorder(room, directory=tmp_path, take=2, sites=SITES, clock=clock, program=None)
    channel = SiteFeed(room, "channel-pl", peer=object())
    room.attach_feed(channel)
    rec.add_source("channel-pl")
    room.set_floor(["weifang", "channel-pl"])
    for i in range(1, 200):  # starts mid-loop: frames before the keyframe are dropped
        feeds["weifang"].on_video(VIDEO[i % len(VIDEO)], 3000 * i, i % len(VIDEO) == 0)
        channel.on_audio(AUDIO[i % len(AUDIO)], 960 * i, True)
        clock.now += 1 / 30
    await rec.close()
    frames, _last, _audio = decoded(tmp_path / f"{rec.part}-weifang.webm")
    assert frames == 199 - 59
    with av.open(str(tmp_path / f"{rec.part}-channel-pl.webm")) as c:
        assert [s.type for s in c.streams] == ["audio"]
        assert sum(1 for p in c.demux() if p.size) == 199
    assert not (tmp_path / f"{rec.part}-olsztyn.webm").exists()  # it sent nothing


async def test_an_interpreters_channel_is_recorded_under_a_name_the_listing_reads(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    room, _feeds = make_room(clock)
    rec = Recorder(room, directory=tmp_path, take=1, sites=SITES, clock=clock, program=None)
    voice = VoiceFeed(room, "pl-booth-1", "pl", peer=object())
    room.voices_on_air["pl"] = "pl-booth-1"  # the core has this interpreter on air
    rec.add_source(channel_slot("pl"))
    for i in range(1, 250):  # 5 s: an audio-only file opens once 3 s came without video
        voice.on_audio(AUDIO[i % len(AUDIO)], 960 * i, True)
        clock.now += 1 / 50
    await rec.close()
    name = f"{rec.part}-channel-pl.webm"  # the slot is channel:pl; no colon in a file name
    with av.open(str(tmp_path / name)) as c:
        assert [s.type for s in c.streams] == ["audio"]
        assert sum(1 for p in c.demux() if p.size) == 249
    listed = parse_name(name)
    assert listed is not None and listed.source == "channel-pl"
    assert rec.manifest()["files"][channel_slot("pl")] == name
