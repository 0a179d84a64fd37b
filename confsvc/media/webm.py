"""One WebM file written from encoded VP8 and Opus packets, as received: PyAV remuxes,
nothing is decoded or encoded.

A file opens on its first VP8 key frame (the track header needs the picture size, read
from that frame's header: ``egress.vp8_size``); Opus that comes first waits in a short
buffer. A source with no video for ``AUDIO_ONLY_AFTER_MS`` of audio gets an audio-only
file (an interpretation channel). Timestamps are milliseconds (WebM's own unit); each
track's never go back.

Crash-safe: FFmpeg's Matroska muxer closes a cluster every ``CLUSTER_MS`` and the file
is flushed after every packet (``flush_packets``), so a process killed with SIGKILL
leaves a file that plays up to its last closed cluster, a second or so before the kill
(``tests/integration/test_recording_sigkill.py`` decodes what is left). Only a clean
``close`` writes the cues (seeking) and the chapters.

What this module is not: timing (``egress.Timeline``), threads (``recorder.py`` calls it
from its writer thread) or which files exist (``recorder.py``).
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from confsvc.media.egress import vp8_size

log = logging.getLogger(__name__)

CLUSTER_MS = 1000
AUDIO_ONLY_AFTER_MS = 3000
MS = Fraction(1, 1000)
CONTAINER_OPTIONS = {"cluster_time_limit": str(CLUSTER_MS), "flush_packets": "1"}


class WebmWriter:
    """One file: ``write`` packets as they come, ``close`` once (with chapters)."""

    def __init__(self, path: Path, *, title: str = "") -> None:
        self.path = path
        self.title = title
        self.packets = 0
        self.dropped = 0
        self.closed = False
        self.size: tuple[int, int] | None = None
        self._container: Any = None
        self._streams: dict[str, Any] = {}
        self._last: dict[str, int] = {}
        self._waiting: list[tuple[bytes, int]] = []  # Opus before the file is open

    def __repr__(self) -> str:
        return f"WebmWriter({self.path.name})"

    @property
    def opened(self) -> bool:
        return self._container is not None

    def write(self, kind: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        if self.closed:
            return
        if self._container is None:
            if kind == "video" and keyframe and vp8_size(data) is not None:
                self._open(vp8_size(data))
            elif kind == "audio":
                self._waiting.append((data, pts_ms))
                if pts_ms - self._waiting[0][1] >= AUDIO_ONLY_AFTER_MS:
                    self._open(None)  # muxes what waited, this packet included
                return
            else:
                self.dropped += 1
                return
        self._mux(kind, data, pts_ms, keyframe)

    def _open(self, size: tuple[int, int] | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        container = av.open(str(self.path), "w", format="webm", container_options=CONTAINER_OPTIONS)
        if self.title:
            container.metadata["title"] = self.title
        if size is not None:
            video = container.add_stream("libvpx", rate=30)
            video.width, video.height = size
            video.time_base = MS
            # Only the muxer needs the stream: keep the idle encoder PyAV opens small.
            video.codec_context.options = {"lag-in-frames": "0", "threads": "1"}
            self._streams["video"] = video
            self.size = size
        audio = container.add_stream("libopus", rate=48000)
        audio.time_base = MS
        self._streams["audio"] = audio
        container.start_encoding()
        self._container = container
        waiting, self._waiting = self._waiting, []
        for data, pts in waiting:
            self._mux("audio", data, pts, True)
        log.info("%r: opened (%s)", self, f"{size[0]}x{size[1]}" if size else "audio only")

    def _mux(self, kind: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        stream = self._streams.get(kind)
        if stream is None:
            self.dropped += 1
            return
        last = self._last.get(kind)
        pts = pts_ms if last is None or pts_ms > last else last + 1
        self._last[kind] = pts
        packet = av.Packet(data)
        packet.stream = stream
        packet.pts = packet.dts = pts
        packet.time_base = MS
        packet.is_keyframe = keyframe
        self._container.mux(packet)
        self.packets += 1

    def close(self, chapters: list[dict[str, Any]] | None = None) -> None:
        """Write the cues and ``chapters`` (``start_s``, ``end_s``, ``title`` text)."""
        if self.closed:
            return
        self.closed = True
        container, self._container = self._container, None
        if container is None:
            return
        if chapters:
            container.set_chapters(
                [
                    {
                        "id": i + 1,
                        "start": round(c["start_s"] * 1000),
                        "end": round(c["end_s"] * 1000),
                        "time_base": MS,
                        "metadata": {"title": str(c["title"])},
                    }
                    for i, c in enumerate(chapters)
                ]
            )
        container.close()
