"""One conference's broadcast: the program's VP8/Opus in, H.264/AAC HLS files out.

Theory of operation. ``HlsTranscoder`` takes the program as encoded packets
(``program.ProgramPacket``: VP8 or Opus as a site sent it, RTP timestamp, keyframe flag,
arrival),
decodes them with PyAV (FFmpeg's ``vp8`` and ``opus`` decoders), encodes one H.264
(libx264, ``tune=zerolatency``) and one AAC stream, and hands both to FFmpeg's HLS muxer,
which cuts MPEG-TS segments of ``segment_s`` at keyframes and keeps a sliding playlist:

- every file is written to ``NAME.tmp`` and renamed (``hls_flags=temp_file``), so a
  static server or a CDN never reads half a segment or half a playlist;
- the playlist lists the last ``list_size`` segments; ``EXT-X-MEDIA-SEQUENCE`` moves on
  and older segments are deleted (``delete_segments``, two kept past the list for
  readers that fetched the playlist just before);
- segment names carry a run id and numbers start at the epoch second the run began, so
  a name is never written twice with other bytes (they are served as immutable) and a
  restarted broadcast's media sequence does not go back;
- ``close()`` writes ``EXT-X-ENDLIST``: players stop, the page says the broadcast ended.

Time. A packet's time is its arrival kept steady by its RTP timestamps
(``egress.Timeline``, one per kind, started again when the program's source site
changes); the output starts where the transcoder started (``clock``, the monotonic
seconds that ``ProgramPacket.arrival`` is on). Audio stays sample-contiguous
(AAC needs that): a gap is filled with silence, a packet that overlaps what was written
is dropped. When the floor has no audio (or no video) the other stream is filled
(silence, the last picture or black), so players never stall on a missing track.

What this module is not: the event loop, the room or the floor. It is synchronous and
runs in the broadcaster's own thread (``confsvc.media.broadcast``); tests feed it
packets directly.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from confsvc.media.egress import Timeline
from confsvc.media.program import ProgramPacket

log = logging.getLogger(__name__)

PLAYLIST = "index.m3u8"
VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AAC_FRAME = 1024
PRESETS = ("ultrafast", "superfast", "veryfast")
# Audio this far behind the output is filled with silence; this far ahead is dropped.
AUDIO_GAP_S = 0.1
# Without a video frame for this long, the last picture is repeated (the floor's site
# has no camera, or the program is switching).
VIDEO_FILL_S = 0.25
FILL_FPS = 10
SEGMENTS_KEPT_PAST_LIST = 2


@dataclass(frozen=True, slots=True)
class HlsSettings:
    directory: Path
    segment_s: float = 1.0
    list_size: int = 6
    preset: str = "ultrafast"
    width: int = 640
    height: int = 480
    fps: int = 30
    video_kbps: int = 1200
    audio_kbps: int = 96

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"broadcast preset {self.preset!r} is not one of {', '.join(PRESETS)}")
        if not 0.5 <= self.segment_s <= 6:
            raise ValueError(f"broadcast segment length {self.segment_s} s is not within 0.5-6 s")
        if self.list_size < 3:
            raise ValueError(f"a broadcast playlist needs 3 segments or more, not {self.list_size}")


class HlsTranscoder:
    """The program's packets in (``program.ProgramPacket``), HLS files in ``settings.directory`` out (synchronous)."""

    def __init__(self, settings: HlsSettings, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self.run_id = secrets.token_hex(4)
        self.started = clock()
        self.stats = {
            "video_in": 0,
            "audio_in": 0,
            "video_out": 0,
            "video_filled": 0,
            "audio_dropped": 0,
            "silence_frames": 0,
            "waiting_keyframe": 0,
            "decode_errors": 0,
        }
        directory = settings.directory
        directory.mkdir(parents=True, exist_ok=True)
        remove_old_files(directory)
        self._out = av.open(
            str(directory / PLAYLIST), "w", format="hls", options=self._muxer_options()
        )
        self._video = self._video_stream()
        self._audio = self._audio_stream()
        self._vdec = av.CodecContext.create("vp8", "r")
        self._adec = av.CodecContext.create("opus", "r")
        self._timelines: dict[str, tuple[str, Timeline | None]] = {}
        self._need_keyframe = True
        self._last_picture: av.VideoFrame | None = None
        self._last_video_s = -1.0  # output time of the last video frame written
        self._next_key_s = 0.0
        self._audio_next = 0  # next audio sample on the output
        self._resampler: av.AudioResampler | None = None
        self._resampler_input: tuple[str, str, int] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"HlsTranscoder({self.settings.directory}, run {self.run_id})"

    def _muxer_options(self) -> dict[str, str]:
        s = self.settings
        return {
            "hls_time": f"{s.segment_s:g}",
            "hls_list_size": str(s.list_size),
            "hls_delete_threshold": str(SEGMENTS_KEPT_PAST_LIST),
            "hls_flags": "delete_segments+temp_file+independent_segments+program_date_time",
            "hls_segment_type": "mpegts",
            "hls_segment_filename": str(s.directory / f"seg-{self.run_id}-%d.ts"),
            "start_number": str(int(time.time())),
        }

    def _video_stream(self) -> Any:
        s = self.settings
        stream = self._out.add_stream("libx264", rate=s.fps)
        stream.width, stream.height, stream.pix_fmt = s.width, s.height, "yuv420p"
        stream.time_base = Fraction(1, VIDEO_CLOCK)
        stream.codec_context.time_base = Fraction(1, VIDEO_CLOCK)
        stream.bit_rate = s.video_kbps * 1000
        # Keyframes are forced every segment (pict_type I); g is only a backstop.
        stream.options = {
            "preset": s.preset,
            "tune": "zerolatency",
            "g": str(max(1, round(2 * s.fps * s.segment_s))),
            "sc_threshold": "0",
            "forced-idr": "1",
        }
        return stream

    def _audio_stream(self) -> Any:
        stream = self._out.add_stream("aac", rate=AUDIO_RATE)
        stream.layout = "mono"
        stream.time_base = Fraction(1, AUDIO_RATE)
        stream.bit_rate = self.settings.audio_kbps * 1000
        return stream

    # -- input ----------------------------------------------------------------------

    def push(self, packet: ProgramPacket) -> None:
        """One packet of the program; a bad one is counted and skipped, never raised."""
        if self._closed:
            return
        if packet.kind == "video":
            self.stats["video_in"] += 1
            self._on_video(packet)
        elif packet.kind == "audio":
            self.stats["audio_in"] += 1
            self._on_audio(packet)

    def idle(self) -> None:
        """Nothing arrived for a while: keep both streams going up to now."""
        if not self._closed:
            self._fill_to(self.clock() - self.started)

    def _time_of(self, packet: ProgramPacket) -> float:
        """Seconds on the output: arrival kept steady by the timestamps, per source site."""
        site, timeline = self._timelines.get(packet.kind, ("", None))
        if timeline is None or site != packet.site:
            timeline = Timeline(packet.kind)  # another site's timestamps: start again
            self._timelines[packet.kind] = (packet.site, timeline)
        return timeline.ms(packet.timestamp, packet.arrival * 1000) / 1000 - self.started

    def _on_video(self, packet: ProgramPacket) -> None:
        if self._need_keyframe and not packet.keyframe:
            self.stats["waiting_keyframe"] += 1
            return
        try:
            frames = self._vdec.decode(av.Packet(packet.data))
        except av.error.FFmpegError:
            self.stats["decode_errors"] += 1
            self._need_keyframe = True
            return
        self._need_keyframe = False
        t = self._time_of(packet)
        for frame in frames:
            self._write_video(frame, t)
        self._fill_audio_to(t)

    def _on_audio(self, packet: ProgramPacket) -> None:
        t = self._time_of(packet)
        at = round(t * AUDIO_RATE)
        if at < self._audio_next - AUDIO_GAP_S * AUDIO_RATE:
            self.stats["audio_dropped"] += 1
            return
        self._fill_audio_to(t)
        try:
            frames = self._adec.decode(av.Packet(packet.data))
        except av.error.FFmpegError:
            self.stats["decode_errors"] += 1
            return
        for frame in frames:
            for same in self._as_output_audio(frame):
                self._write_audio(same)
        self._fill_video_to(t)

    def _as_output_audio(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        """``frame`` as fltp mono 48 kHz: what the encoder was opened with (sites differ)."""
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        if shape != self._resampler_input:
            self._resampler = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)
            self._resampler_input = shape
        assert self._resampler is not None
        return list(self._resampler.resample(frame))

    # -- output ---------------------------------------------------------------------

    def _write_video(self, frame: av.VideoFrame, t: float) -> None:
        s = self.settings
        if t <= self._last_video_s:
            t = self._last_video_s + 1 / VIDEO_CLOCK
        if frame.width != s.width or frame.height != s.height or frame.format.name != "yuv420p":
            frame = frame.reformat(width=s.width, height=s.height, format="yuv420p")
        self._last_picture = frame
        self._encode_video(frame, t)
        self.stats["video_out"] += 1

    def _encode_video(self, frame: av.VideoFrame, t: float) -> None:
        frame.pts = round(t * VIDEO_CLOCK)
        frame.time_base = Fraction(1, VIDEO_CLOCK)
        if t >= self._next_key_s:
            frame.pict_type = av.video.frame.PictureType.I
            self._next_key_s = t + self.settings.segment_s
        else:
            frame.pict_type = av.video.frame.PictureType.NONE
        self._last_video_s = t
        for packet in self._video.encode(frame):
            self._out.mux(packet)

    def _write_audio(self, frame: av.AudioFrame) -> None:
        frame.pts = self._audio_next
        frame.time_base = Fraction(1, AUDIO_RATE)
        self._audio_next += frame.samples
        for packet in self._audio.encode(frame):
            self._out.mux(packet)

    def _fill_audio_to(self, t: float) -> None:
        """Silence up to ``t`` when the audio is more than ``AUDIO_GAP_S`` behind."""
        target = round(t * AUDIO_RATE)
        if target - self._audio_next <= AUDIO_GAP_S * AUDIO_RATE:
            return
        while self._audio_next < target:
            n = min(AAC_FRAME, target - self._audio_next)
            silence = av.AudioFrame.from_ndarray(
                np.zeros((1, n), dtype=np.float32), format="fltp", layout="mono"
            )
            silence.sample_rate = AUDIO_RATE
            self._write_audio(silence)
            self.stats["silence_frames"] += 1

    def _fill_video_to(self, t: float) -> None:
        """The last picture (black before the first) again, when video is behind."""
        if t - self._last_video_s <= VIDEO_FILL_S:
            return
        step = 1 / FILL_FPS
        start = max(self._last_video_s + step, 0.0)
        frame_t = start
        while frame_t <= t:
            self._encode_video(self._filler(), frame_t)
            self.stats["video_filled"] += 1
            frame_t += step

    def _filler(self) -> av.VideoFrame:
        s = self.settings
        if self._last_picture is not None:
            return self._last_picture  # x264 copies what it encodes: reusing it is safe
        black = np.zeros((s.height * 3 // 2, s.width), dtype=np.uint8)
        black[s.height :] = 128  # neutral chroma
        return av.VideoFrame.from_ndarray(black, format="yuv420p")

    def _fill_to(self, t: float) -> None:
        self._fill_video_to(t)
        self._fill_audio_to(t)

    def close(self) -> None:
        """Flush both encoders and end the playlist (``EXT-X-ENDLIST``). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            for stream in (self._video, self._audio):
                for packet in stream.encode(None):
                    self._out.mux(packet)
        finally:
            self._out.close()
        log.info("%r: closed %s", self, self.stats)


def remove_old_files(directory: Path) -> None:
    """A previous run's playlist, segments and temporary files: until this run's first
    segment there is no playlist (the page says the broadcast is starting)."""
    for path in directory.iterdir():
        if path.name == PLAYLIST or path.name.startswith("seg-") or path.name.endswith(".tmp"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
