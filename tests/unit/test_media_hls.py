"""The broadcast's transcoder: the program's VP8/Opus in, a sliding HLS playlist of
H.264/AAC MPEG-TS segments out, checked by decoding what it wrote with PyAV.

The transcoder's clock is the test's: packets carry arrival times from
``pattern.program_packets`` and the clock only moves with them, so nothing sleeps.
"""

from __future__ import annotations

import re
from pathlib import Path

import av
import pytest

from confsvc.media.hls import PLAYLIST, HlsSettings, HlsTranscoder
from confsvc.media.pattern import program_packets
from confsvc.media.program import ProgramPacket


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def feed(transcoder: HlsTranscoder, clock: Clock, packets: list[ProgramPacket]) -> None:
    for packet in packets:
        clock.now = packet.arrival
        transcoder.push(packet)


def playlist(directory: Path) -> tuple[int, list[str], list[float], str]:
    text = (directory / PLAYLIST).read_text()
    match = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    assert match is not None, text
    durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
    names = [line for line in text.splitlines() if line.endswith(".ts")]
    return int(match.group(1)), names, durations, text


def decoded(path: Path) -> dict[str, int]:
    """Frames per stream type that decode, and whether the first video frame is a keyframe."""
    counts = {"video": 0, "audio": 0, "first_is_key": 0}
    with av.open(str(path)) as container:
        assert sorted(s.codec_context.name for s in container.streams) == ["aac", "h264"]
        for packet in container.demux():
            for frame in packet.decode():
                kind = packet.stream.type
                if kind == "video" and counts["video"] == 0:
                    counts["first_is_key"] = int(frame.key_frame)
                counts[kind] += 1
    return counts


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_the_playlist_slides_and_old_segments_are_deleted(tmp_path: Path, clock: Clock) -> None:
    settings = HlsSettings(tmp_path, segment_s=1.0, list_size=4)
    t = HlsTranscoder(settings, clock=clock)
    feed(t, clock, program_packets(4.2, start=clock.now))
    first_seq, first_names, _, _ = playlist(tmp_path)
    feed(t, clock, program_packets(5, start=clock.now + 0.02, timestamp0=4 * 90000))
    seq, names, durations, text = playlist(tmp_path)

    assert len(names) == 4
    assert seq > first_seq
    assert names[0] not in first_names
    assert all(0.9 <= d <= 1.1 for d in durations), durations
    assert "#EXT-X-ENDLIST" not in text
    on_disk = sorted(p.name for p in tmp_path.glob("seg-*.ts"))
    # the list, and two more kept for readers that fetched the playlist just before
    assert len(on_disk) <= 4 + 2
    assert set(names) <= set(on_disk)
    assert not list(tmp_path.glob("*.tmp"))


def test_each_segment_decodes_as_h264_and_aac_from_a_keyframe(tmp_path: Path, clock: Clock) -> None:
    t = HlsTranscoder(HlsSettings(tmp_path, list_size=10), clock=clock)
    feed(t, clock, program_packets(4.5, start=clock.now))
    t.close()
    _, names, _, text = playlist(tmp_path)
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    full = [decoded(tmp_path / n) for n in names[:-1]]  # the last one is what was left
    assert [c["first_is_key"] for c in full] == [1] * len(full)
    assert [c["video"] for c in full] == [30] * len(full)
    # 1 s of 48 kHz audio is 46.9 AAC frames of 1024 samples
    assert all(46 <= c["audio"] <= 48 for c in full), full


def test_a_program_without_audio_gets_silence(tmp_path: Path, clock: Clock) -> None:
    t = HlsTranscoder(HlsSettings(tmp_path, list_size=10), clock=clock)
    feed(t, clock, program_packets(4.5, start=clock.now, kinds=("video",)))
    t.close()
    _, names, _, _ = playlist(tmp_path)
    assert t.stats["silence_frames"] > 100
    assert all(46 <= decoded(tmp_path / n)["audio"] <= 48 for n in names[1:-1])


def test_a_program_without_video_repeats_a_picture(tmp_path: Path, clock: Clock) -> None:
    t = HlsTranscoder(HlsSettings(tmp_path, list_size=10), clock=clock)
    feed(t, clock, program_packets(2.1, start=clock.now))
    feed(t, clock, program_packets(3, start=clock.now + 0.02, kinds=("audio",)))
    t.close()
    _, names, _, _ = playlist(tmp_path)
    assert t.stats["video_filled"] >= 25
    assert all(decoded(tmp_path / n)["video"] >= 9 for n in names[:-1])


def test_nothing_arriving_still_moves_the_broadcast_on(tmp_path: Path, clock: Clock) -> None:
    t = HlsTranscoder(HlsSettings(tmp_path, list_size=10), clock=clock)
    feed(t, clock, program_packets(1.1, start=clock.now))
    for _ in range(15):
        clock.now += 0.2
        t.idle()
    t.close()
    _, _, durations, _ = playlist(tmp_path)
    # 1.1 s of packets, then 3 s of nothing: filled up to within VIDEO_FILL_S of the end
    assert sum(durations) >= 3.0


def test_a_switch_of_site_keeps_time_moving_forward(tmp_path: Path, clock: Clock) -> None:
    t = HlsTranscoder(HlsSettings(tmp_path, list_size=10), clock=clock)
    feed(t, clock, program_packets(2, site="weifang", start=clock.now, timestamp0=5_000_000))
    # the other site's timestamps are elsewhere entirely
    feed(t, clock, program_packets(2.1, site="olsztyn", start=clock.now + 0.03, timestamp0=7))
    t.close()
    _, names, durations, _ = playlist(tmp_path)
    assert 3.5 <= sum(durations) <= 4.5, durations
    assert t.stats["audio_dropped"] == 0
    with av.open(str(tmp_path / names[2])) as container:
        video = [p for p in container.demux(video=0) if p.pts is not None]
    pts = [p.pts for p in video]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)


def test_a_new_run_never_reuses_a_segment_name(tmp_path: Path, clock: Clock) -> None:
    first = HlsTranscoder(HlsSettings(tmp_path), clock=clock)
    feed(first, clock, program_packets(2.1, start=clock.now))
    first.close()
    first_seq, old_names, _, _ = playlist(tmp_path)
    second = HlsTranscoder(HlsSettings(tmp_path), clock=clock)
    assert not (tmp_path / PLAYLIST).exists()  # until its first segment: "starting"
    feed(second, clock, program_packets(2.1, start=clock.now + 0.02))
    seq, names, _, _ = playlist(tmp_path)
    second.close()
    assert seq >= first_seq
    assert not set(names) & set(old_names)
    assert not any((tmp_path / n).exists() for n in old_names)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"preset": "medium"}, "broadcast preset 'medium' is not one of ultrafast"),
        ({"segment_s": 10.0}, "broadcast segment length 10.0 s is not within 0.5-6 s"),
        ({"list_size": 2}, "a broadcast playlist needs 3 segments or more, not 2"),
    ],
)
def test_bad_settings_are_refused_by_name(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        HlsSettings(tmp_path, **change)  # type: ignore[arg-type]
