"""One take of one conference on disk: a WebM file per source and one of the program.

Theory of operation. A ``Recorder`` joins the room as a participant: an ``egress.Tap``
per source and kind (each agenda site, and any other source that appears in the room —
an interpretation channel is just another source) and a consumer of the conference's
``program.Program``. Every frame is stamped on the loop (``egress.Timeline``: ms since
this part of the take began, pauses left out) and handed to one writer thread that
muxes it (``webm.WebmWriter``: remuxing only), so a slow disk never holds the event loop.
While paused nothing is written; on resume each file waits for a keyframe (and asks).

Files, in ``DIR/<conference>/`` (``docs/recording.md``): ``<part>-<source>.webm`` per
source, ``<part>-program.webm`` (Matroska chapters per agenda item, written at the
end), ``<part>-program.vtt`` (WebVTT chapters, rewritten as items change), and
``<part>.json``, the manifest. ``<part>`` is ``take<N>-<UTC start of this part>``: a
server restarted mid-take starts a new part and never overwrites one.

What this module is not: when to record (``confsvc.core.recording`` decides;
``confsvc.recording.service`` starts and stops recorders) or the floor (``program``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confsvc.media.egress import Tap, Timeline
from confsvc.media.program import Program, ProgramPacket
from confsvc.media.room import Clock, Room
from confsvc.media.webm import WebmWriter

log = logging.getLogger(__name__)

QUEUE_PACKETS = 4000  # ~10 s of four sources and the program; past that, packets drop
POLL_SOURCES_S = 1.0
PROGRAM = "program"


def part_name(take: int, wall: float) -> str:
    stamp = dt.datetime.fromtimestamp(wall, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"take{take}-{stamp}"


def vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02}:{m:02}:{s:02}.{ms:03}"


def webvtt_chapters(chapters: list[dict[str, Any]], title: Callable[[dict[str, Any]], str]) -> str:
    """A WebVTT chapters file (``<track kind="chapters">``): one cue per chapter."""
    lines = ["WEBVTT", ""]
    for i, c in enumerate(chapters, 1):
        text = " ".join(title(c).split()).replace("-->", "->")
        lines += [f"{i}", f"{vtt_time(c['start_s'])} --> {vtt_time(c['end_s'])}", text, ""]
    return "\n".join(lines)


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


class _Source:
    """One source's file and the timelines of its kinds."""

    __slots__ = ("need_key", "timelines", "writer")

    def __init__(self, writer: WebmWriter) -> None:
        self.writer = writer
        self.timelines: dict[str, Timeline] = {}
        self.need_key = False


class Recorder:
    """One part of a take: join, write, ``pause``/``resume``, ``close`` (see the module)."""

    def __init__(
        self,
        room: Room,
        *,
        directory: Path,
        take: int,
        sites: list[str],
        clock: Clock,
        program: Program | None,
        title: str = "",
    ) -> None:
        self.room = room
        self.directory = directory
        self.take = take
        self.clock = clock
        self.title = title
        self.started_wall = clock.wall()
        self.part = part_name(take, self.started_wall)
        self.paused = False
        self.closed = False
        self.dropped = 0
        self._origin = clock.monotonic()
        self._paused_ms = 0.0
        self._paused_at: float | None = None
        self._sources: dict[str, _Source] = {}
        self._taps: list[Tap] = []
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(QUEUE_PACKETS)
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-{room.conference}", daemon=True
        )
        self._thread.start()
        self._program = program
        self._program_source = _Source(self._writer(PROGRAM, "program"))
        self._program_source.need_key = True
        self._chapters: list[dict[str, Any]] = []
        self._vtt = ""
        for site in sites:
            self.add_source(site)
        if program is not None:
            program.add_consumer(self)
        self._poll: asyncio.TimerHandle | None = None
        self._schedule_poll()

    def __repr__(self) -> str:
        return f"Recorder({self.room.conference}, {self.part})"

    # -- sources -----------------------------------------------------------------

    def _file_name(self, source: str) -> str:
        """``<part>-<source>.webm``; a channel's slot ``channel:pl`` is ``channel-pl`` in a
        file name (``confsvc.recording.files.NAME``: no colon, for every file system)."""
        return f"{self.part}-{source.replace(':', '-')}.webm"

    def _writer(self, source: str, label: str) -> WebmWriter:
        path = self.directory / self._file_name(source)
        return WebmWriter(path, title=f"{self.title} — {label}" if self.title else label)

    def add_source(self, source: str) -> None:
        """Record one more source of the room (a site, a channel): a file of its own."""
        if source in self._sources or source == PROGRAM:
            return
        self._sources[source] = _Source(self._writer(source, source))
        for kind in ("audio", "video"):
            tap = Tap(self.room, source, kind, self._on_frame)
            self._taps.append(tap)
            tap.join()

    def _schedule_poll(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without a loop (unit tests): no polling
            return
        self._poll = loop.call_later(POLL_SOURCES_S, self._poll_sources)

    def _poll_sources(self) -> None:
        """Sources that appeared in the room since (a channel's feed, a new slot)."""
        if self.closed:
            return
        for source in [*self.room.feeds, *(site for site, _kind in self.room.slots)]:
            self.add_source(source)
        self._schedule_poll()

    # -- frames (on the loop) ----------------------------------------------------

    def _now_ms(self, monotonic: float) -> float:
        return (monotonic - self._origin) * 1000.0 - self._paused_ms

    def _on_frame(self, tap: Tap, data: bytes, timestamp: int, keyframe: bool) -> None:
        source = self._sources.get(tap.site)
        if source is not None:
            self._stamp(source, tap.kind, tap.kind, data, timestamp, keyframe, tap.site)

    def program_packet(self, packet: ProgramPacket) -> None:
        self._stamp(
            self._program_source,
            f"{packet.site}/{packet.kind}",
            packet.kind,
            packet.data,
            packet.timestamp,
            packet.keyframe,
            None,
            packet.arrival,
        )

    def program_closed(self) -> None:
        self._program = None

    def attach(self, program: Program) -> None:
        """The program this recorder was added to as a consumer (``Programs.join``)."""
        self._program = program

    def _stamp(
        self,
        source: _Source,
        line: str,
        kind: str,
        data: bytes,
        timestamp: int,
        keyframe: bool,
        site: str | None,
        arrival: float | None = None,
    ) -> None:
        if self.paused or self.closed:
            return
        if source.need_key:
            if kind != "video" or not keyframe:
                return
            source.need_key = False
        timeline = source.timelines.get(line)
        if timeline is None:
            timeline = source.timelines[line] = Timeline(kind)
        now = self.clock.monotonic() if arrival is None else arrival
        pts = round(timeline.ms(timestamp, self._now_ms(now)))
        try:
            self._queue.put_nowait((source.writer, kind, data, max(0, pts), keyframe))
        except queue.Full:
            self.dropped += 1
            if kind == "video":  # resume that file on a keyframe, not mid-picture
                source.need_key = True
                if site is not None:
                    self.room.request_keyframe(site)

    # -- pause, chapters, close --------------------------------------------------

    def pause(self) -> None:
        if self.paused or self.closed:
            return
        self.paused = True
        self._paused_at = self.clock.monotonic()

    def resume(self) -> None:
        if not self.paused or self.closed:
            return
        self.paused = False
        if self._paused_at is not None:
            self._paused_ms += (self.clock.monotonic() - self._paused_at) * 1000.0
        self._paused_at = None
        for site, source in self._sources.items():
            source.need_key = True
            self.room.request_keyframe(site)
        self._program_source.need_key = True
        if self._program is not None and self._program.source is not None:
            self.room.request_keyframe(self._program.source)

    def set_chapters(self, chapters: list[dict[str, Any]], vtt: str) -> None:
        """The agenda items so far, in seconds of this part; the WebVTT file now."""
        self._chapters, self._vtt = chapters, vtt
        self._put(("vtt", vtt))

    def _put(self, item: tuple[Any, ...] | None) -> None:
        # Control items must not be lost: wait for room (the thread only ever drains).
        self._queue.put(item)

    def manifest(self) -> dict[str, Any]:
        return {
            "conference": self.room.conference,
            "take": self.take,
            "part": self.part,
            "started_at": self.started_wall,
            "files": {name: self._file_name(name) for name in [PROGRAM, *sorted(self._sources)]},
            "chapters": f"{self.part}-program.vtt",
        }

    async def close(self) -> None:
        """Leave the room, finish every file (cues, chapters), stop the thread."""
        if self.closed:
            return
        self.closed = True
        if self._poll is not None:
            self._poll.cancel()
        if self._program is not None:
            self._program.remove_consumer(self)
            self._program = None
        for tap in self._taps:
            tap.leave()
        self._taps.clear()
        self._put(("close", self._chapters, self.manifest()))
        self._put(("vtt", self._vtt))
        self._put(None)
        await asyncio.to_thread(self._thread.join)

    @property
    def queued(self) -> int:
        """Packets waiting for the writer thread."""
        return self._queue.qsize()

    def stats(self) -> dict[str, Any]:
        writers = [self._program_source.writer, *(s.writer for s in self._sources.values())]
        return {
            "part": self.part,
            "paused": self.paused,
            "dropped": self.dropped,
            "files": {w.path.name: w.packets for w in writers if w.opened or w.closed},
        }

    # -- the writer thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._handle(item)
            except Exception:
                log.exception("%r: writing failed", self)

    def _handle(self, item: tuple[Any, ...]) -> None:
        head = item[0]
        if isinstance(head, WebmWriter):
            _writer, kind, data, pts, keyframe = item
            head.write(kind, data, pts, keyframe)
        elif head == "vtt":
            if item[1] and self._program_source.writer.packets:
                self.directory.mkdir(parents=True, exist_ok=True)
                write_atomically(self.directory / f"{self.part}-program.vtt", item[1])
        elif head == "close":
            _head, chapters, manifest = item
            writers = [self._program_source.writer, *(s.writer for s in self._sources.values())]
            wrote = [w for w in writers if w.opened]
            for w in writers:
                w.close(chapters if w is self._program_source.writer else None)
            if wrote:
                manifest["files"] = {
                    k: v for k, v in manifest["files"].items() if (self.directory / v).exists()
                }
                write_atomically(
                    self.directory / f"{self.part}.json",
                    json.dumps(manifest, ensure_ascii=False, indent=1),
                )
