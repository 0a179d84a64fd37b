"""The broadcast for a large audience: HLS of the program, served as static files.

Who: ``Broadcast`` is one conference's broadcast, a consumer of the conference's
``program.Program`` (a participant of the room, through ``egress.Tap`` like any
viewer). Its ``HlsTranscoder`` runs in a thread of its own: the event loop only puts
packets on a bounded queue (full: the packet is dropped and video waits for the next
keyframe, asked for). The transcoder is opened with the first packet, so a node that
holds the conference but not its media (another node is its home) writes nothing.

When: ``broadcast_wanted`` says so: the node has a ``broadcast_dir``, the agenda
enables the broadcast (``conference.broadcast: true``: a privacy decision, the live page
says it is a broadcast), and the run of show is running or paused. It ends with the
conference (``EXT-X-ENDLIST``: players stop, the page says it ended). ``Broadcasts``
follows every hub's events and starts or stops them.

Serving: ``GET /c/{conference}/broadcast/{file}`` is a static file handler over
``broadcast_dir/<conference>/`` (no hub, no per-viewer state): the playlist
``no-cache, max-age=1``, segments (never rewritten: ``hls``) ``immutable``; CORS open,
the files are public; served from memory while unchanged on disk (``FileCache``: one
``stat`` per request, no thread hop), ranges and date conditions by aiohttp's
``FileResponse``. A reverse proxy or CDN can serve the same directory instead
(docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiohttp import hdrs, web

from confsvc.config import Config
from confsvc.core.agenda import ID_PATTERN, Agenda
from confsvc.core.errors import NotFound
from confsvc.core.floor import current_floor
from confsvc.core.runofshow import PAUSED, RUNNING, ros
from confsvc.http.features import CONFIG, HUBS, I18N
from confsvc.media.hls import PLAYLIST, HlsSettings, HlsTranscoder
from confsvc.media.program import Program, ProgramPacket, Programs

log = logging.getLogger(__name__)

QUEUE_PACKETS = 300  # ~4 s of the program (30 video + 50 audio packets a second)
IDLE_S = 0.2  # nothing queued this long: the transcoder fills both streams up to now
STOP_TIMEOUT_S = 10.0
PLAYLIST_CACHE = "no-cache, max-age=1"
SEGMENT_CACHE = "public, max-age=31536000, immutable"
# Requests that aiohttp's FileResponse answers (ranges, dates): If-None-Match is ours.
CONDITIONAL = (
    hdrs.RANGE,
    hdrs.IF_RANGE,
    hdrs.IF_MODIFIED_SINCE,
    hdrs.IF_UNMODIFIED_SINCE,
    hdrs.IF_MATCH,
)
FILE_NAME = re.compile(r"^(index\.m3u8|seg-[0-9a-f]{8}-[0-9]{1,12}\.ts)$")
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}


def settings_for(config: Config, conference: str) -> HlsSettings:
    assert config.broadcast_dir is not None
    return HlsSettings(
        directory=config.broadcast_dir / conference,
        segment_s=config.broadcast_segment_s,
        list_size=config.broadcast_list_size,
        preset=config.broadcast_preset,
    )


def broadcast_wanted(config: Config, state: Any) -> bool:
    """Broadcast now: the node can, the agenda allows it, the run of show is under way."""
    agenda = state.agenda
    if config.broadcast_dir is None or agenda is None or not agenda.conference.broadcast:
        return False
    return ros(state).status in (RUNNING, PAUSED)


class Broadcast:
    """One conference's HLS broadcast: a program consumer with a transcoder thread."""

    def __init__(self, conference: str, settings: HlsSettings, program: Program | None) -> None:
        self.conference = conference
        self.settings = settings
        self.program = program
        self.dropped = 0
        self.failed: str | None = None
        self.transcoder: HlsTranscoder | None = None
        self._queue: queue.Queue[ProgramPacket] = queue.Queue(QUEUE_PACKETS)
        self._stop = threading.Event()
        self._skip_video = False  # a video packet was dropped: wait for a keyframe
        self._thread = threading.Thread(
            target=self._run, name=f"broadcast-{conference}", daemon=True
        )

    def __repr__(self) -> str:
        return f"Broadcast({self.conference})"

    def start(self) -> None:
        """The transcoder's thread; the caller then adds this consumer to the program
        (``Programs.join``, which the recorder shares)."""
        self._thread.start()

    # -- the program's consumer (event loop) -------------------------------------------

    def program_packet(self, packet: ProgramPacket) -> None:
        if packet.kind == "video" and self._skip_video:
            if not packet.keyframe:
                return
            self._skip_video = False
        try:
            self._queue.put_nowait(packet)
        except queue.Full:
            self.dropped += 1
            if packet.kind == "video":
                self._skip_video = True
                if self.program is not None:
                    self.program.room.request_keyframe(packet.site)

    def program_closed(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        """Let the thread write what is queued and end the playlist (the caller has taken
        this consumer off the program: ``Programs.leave``)."""
        self._stop.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning("%r: the transcoder did not stop in %s s", self, STOP_TIMEOUT_S)

    # -- the transcoder's thread -------------------------------------------------------

    def _run(self) -> None:
        try:
            self._transcode()
        except Exception as exc:  # disk full, a codec refusing: say so, never silently
            self.failed = f"{type(exc).__name__}: {exc}"
            log.exception("%r: the broadcast stopped", self)
        finally:
            if self.transcoder is not None:
                try:
                    self.transcoder.close()
                except Exception:
                    log.exception("%r: closing the playlist failed", self)

    def _transcode(self) -> None:
        while True:
            try:
                packet = self._queue.get(timeout=IDLE_S)
            except queue.Empty:
                if self._stop.is_set():
                    return
                if self.transcoder is not None:
                    self.transcoder.idle()
                continue
            if self.transcoder is None:
                self.transcoder = HlsTranscoder(self.settings)
                log.info("%r: writing %s", self, self.settings.directory)
            self.transcoder.push(packet)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "queued": self._queue.qsize(),
            "dropped": self.dropped,
            "failed": self.failed,
            "program": self.program.stats() if self.program is not None else None,
        }
        if self.transcoder is not None:
            out["transcoder"] = dict(self.transcoder.stats)
        return out


class Broadcasts:
    """This node's broadcasts, by conference: started and stopped from hub events."""

    def __init__(self, config: Config, relay: Any) -> None:
        self.config = config
        self.relay = relay
        self.running: dict[str, Broadcast] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def on_events(self, hub: Any, events: list[Any]) -> None:
        """A hub's events were folded (same loop turn): start or stop its broadcast."""
        wanted = broadcast_wanted(self.config, hub.state)
        running = self.running.get(hub.id)
        if wanted and running is None:
            self.start(hub.id, hub.state)
        elif not wanted and running is not None:
            self._later(self.stop(hub.id))

    def start(self, conference: str, state: Any) -> Broadcast:
        agenda = state.require_agenda()
        programs = Programs.of(self.relay)
        floor = current_floor(state)
        broadcast = Broadcast(conference, settings_for(self.config, conference), None)
        self.running[conference] = broadcast
        broadcast.start()
        # One program per conference, shared with the recorder (confsvc.recording).
        broadcast.program = programs.join(conference, agenda.site_ids, floor, broadcast)
        log.info("%r: started", broadcast)
        return broadcast

    async def stop(self, conference: str) -> None:
        broadcast = self.running.pop(conference, None)
        if broadcast is None:
            return
        Programs.of(self.relay).leave(conference, broadcast)
        await broadcast.stop()
        log.info("%r: ended %s", broadcast, broadcast.stats())

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for conference in list(self.running):
            await self.stop(conference)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        return {conference: b.stats() for conference, b in self.running.items()}


# -- serving the files -------------------------------------------------------------------

BROADCASTS = web.AppKey("broadcasts", Broadcasts)


def _not_found(what: str) -> web.Response:
    return web.json_response(NotFound(what).as_dict(), status=404)


class FileCache:
    """The broadcast's files, held in memory while they are on disk unchanged.

    Every reader asks for the same few files (the playlist once a target duration, each
    new segment once), so a node serves them from memory: one ``os.stat`` per request
    (in the event loop: a local directory, no thread hop) says whether the copy is still
    the file on disk (inode, mtime, size: the muxer writes the playlist to a temporary
    file and renames it, and never rewrites a segment). The transcoder may be another
    node's, on a shared ``broadcast_dir``: the stat sees its writes too. Held: at most
    ``max_bytes``, the least recently used dropped first.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._files: OrderedDict[str, tuple[tuple[int, int, int], bytes, str, str]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.reads = 0

    def get(self, path: str, st: os.stat_result) -> tuple[bytes, str, str] | None:
        """``(body, etag, last_modified)`` of ``path`` as ``st`` describes it, or None.

        ``path`` is a string: hashing a ``Path`` costs more than the rest of a hit.
        """
        version = (st.st_ino, st.st_mtime_ns, st.st_size)
        held = self._files.get(path)
        if held is not None and held[0] == version:
            self._files.move_to_end(path)
            self.hits += 1
            return held[1], held[2], held[3]
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError:
            return None
        if len(body) != st.st_size:  # replaced while read: serve it, do not keep it
            return None
        self.reads += 1
        # aiohttp's FileResponse spells ETag and Last-Modified the same way, so a
        # conditional request it answers (Range, If-Modified-Since) agrees with these.
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        modified = formatdate(st.st_mtime, usegmt=True)
        if held is not None:
            self._bytes -= len(held[1])
        self._files[path] = (version, body, etag, modified)
        self._files.move_to_end(path)
        self._bytes += len(body)
        while self._bytes > self.max_bytes and len(self._files) > 1:
            _, (_, old, _, _) = self._files.popitem(last=False)
            self._bytes -= len(old)
        return body, etag, modified


FILES = web.AppKey("broadcast_files", FileCache)


async def broadcast_file(request: web.Request) -> web.StreamResponse:
    """``GET /c/{conference}/broadcast/{file}``: the playlist or a segment, as a file."""
    directory: Path | None = request.app[CONFIG].broadcast_dir
    conference = request.match_info["conference"]
    name = request.match_info["file"]
    if directory is None:
        return _not_found("this server does not broadcast (broadcast_dir is not set)")
    if not re.fullmatch(ID_PATTERN, conference) or not FILE_NAME.match(name):
        return _not_found(f"no broadcast file {name!r} (index.m3u8 or seg-RUN-N.ts)")
    path = os.path.join(directory, conference, name)
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        if name == PLAYLIST:
            return _not_found(f"the broadcast of {conference!r} has not started")
        return _not_found(f"segment {name!r} is no longer in the broadcast's playlist")
    suffix = os.path.splitext(name)[1]
    headers = {
        hdrs.CONTENT_TYPE: CONTENT_TYPES[suffix],
        hdrs.CACHE_CONTROL: PLAYLIST_CACHE if suffix == ".m3u8" else SEGMENT_CACHE,
        hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    held = None
    if not any(h in request.headers for h in CONDITIONAL):
        held = request.app[FILES].get(path, st)
    if held is None:  # ranges, If-Modified-Since, or a file that changed as it was read
        return web.FileResponse(path, headers=headers)
    body, etag, modified = held
    headers[hdrs.ETAG] = etag
    headers[hdrs.LAST_MODIFIED] = modified
    if request.headers.get(hdrs.IF_NONE_MATCH) == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers=headers)


async def _broadcasts_ctx(app: web.Application) -> AsyncIterator[None]:
    from confsvc.media.setup import RELAY

    broadcasts = Broadcasts(app[CONFIG], app[RELAY])
    app[BROADCASTS] = broadcasts
    hubs = app[HUBS]
    hubs.event_hooks.append(broadcasts.on_events)
    try:
        yield
    finally:
        if broadcasts.on_events in hubs.event_hooks:
            hubs.event_hooks.remove(broadcasts.on_events)
        await broadcasts.close()


def setup(app: web.Application) -> None:
    """Registered after ``media.setup`` (it needs the relay): ``confsvc.assembly``."""
    app.router.add_get("/c/{conference}/broadcast/{file}", broadcast_file, name="broadcast")
    app[FILES] = FileCache()
    serving = app[CONFIG].broadcast_dir is not None

    def broadcast_on(agenda: Agenda) -> bool:
        """The live page shows the player (templates/_broadcast.html)."""
        return serving and agenda.conference.broadcast

    for env in app[I18N].envs.values():
        env.globals["broadcast_on"] = broadcast_on
    app.cleanup_ctx.append(_broadcasts_ctx)
