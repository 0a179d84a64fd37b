"""Server-Sent Events for the public live page: each reader is a hub listener.

Thousands of readers get the same few messages, so delivery is cheap by design: the hub
calls ``deliver`` (which never blocks) on each reader; the reader keeps the text, and
once per turn of the event loop every reader with something pending gets one write
straight to its socket (one system call for all it got from one command). A reader
whose socket stops draining (more than ``MAX_BUFFER`` unsent) is dropped; its browser's
EventSource reconnects to a fresh snapshot. Readers are always ``PUBLIC``: nothing
private is ever addressed to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from confsvc.core.errors import BadRequest, DomainError
from confsvc.core.events import Principal
from confsvc.http import shutdown
from confsvc.http.api import PUBLIC
from confsvc.http.features import HUBS
from confsvc.service import dumps
from confsvc.store.guarded import StoreUnavailable

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
MAX_BUFFER = 512 * 1024


def frame(text: str, seq: int | None = None) -> bytes:
    """One SSE message; ``id:`` is the seq of the event that caused it, so a browser's
    ``EventSource`` reconnects with ``Last-Event-ID`` and gets what it missed."""
    # JSON from dumps() has no raw newlines, so one data line per message.
    head = b"" if seq is None else b"id: %d\n" % seq
    return head + b"data: " + text.encode("utf-8") + b"\n\n"


def _seq_of(text: str) -> int | None:
    seq = json.loads(text).get("seq")
    return seq if isinstance(seq, int) else None


def last_event_id(request: web.Request) -> int | None:
    """The seq a reconnecting ``EventSource`` saw last (``Last-Event-ID``), or
    ``BadRequest`` naming the header."""
    value = request.headers.get("Last-Event-ID")
    if value is None or value.strip() == "":
        return None
    if not value.strip().isdigit() or len(value.strip()) > 18:
        raise BadRequest("Last-Event-ID must be a seq: a whole number, 0 or more")
    return int(value.strip())


class Fanout:
    """The app's SSE readers, and the one flush per loop turn that writes to them."""

    def __init__(self) -> None:
        self.readers: set[SseReader] = set()
        self._dirty: list[SseReader] = []
        self._last: tuple[str, bytes] = ("", b"")

    def frame(self, text: str) -> bytes:
        # The hub hands every reader the same string: encode it once.
        if self._last[0] is not text:
            self._last = (text, frame(text, _seq_of(text)))
        return self._last[1]

    def mark(self, reader: SseReader) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush)
        self._dirty.append(reader)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for reader in dirty:
            reader.flush()

    def close_all(self, farewell: bytes | None = None) -> None:
        """End every stream, each after ``farewell`` (one SSE frame) if given."""
        for reader in list(self.readers):
            if farewell is not None:
                reader.send(farewell)
                reader.flush()
            reader.close()


FANOUT: web.AppKey[Fanout] = web.AppKey("questions_sse_fanout")


class SseReader:
    """One public page's event stream."""

    def __init__(self, conference: str, fanout: Fanout, transport: Any, chunked: bool) -> None:
        self.principal: Principal = PUBLIC
        self.conference = conference
        self.fanout = fanout
        self.transport = transport
        self.chunked = chunked
        self.pending: list[bytes] = []
        self.closed = False
        self.held = True  # until the welcome is written: what comes meanwhile waits
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def __repr__(self) -> str:
        return f"SseReader({self.conference}, {id(self):x})"

    def deliver(self, text: str) -> None:
        self.send(self.fanout.frame(text))

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        if not self.pending and not self.held:
            self.fanout.mark(self)
        self.pending.append(data)

    def release(self) -> None:
        """The welcome is out: send what waited, and from now on as it comes."""
        self.held = False
        if self.pending:
            self.fanout.mark(self)

    def flush(self) -> None:
        if self.closed or not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        transport = self.transport
        if transport is None or transport.is_closing():
            self.close()
            return
        if transport.get_write_buffer_size() > MAX_BUFFER:
            log.info("%r: too slow, dropping it", self)
            self.close()
            return
        if self.chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        transport.write(data)

    def close(self) -> None:
        self.closed = True
        self.pending.clear()
        if not self.done.done():
            self.done.set_result(None)


async def live_events(request: web.Request) -> web.StreamResponse:
    """``GET /c/{conference}/live/events``: the public view, then every public message."""
    try:
        resume_from = last_event_id(request)
        hub = await request.app[HUBS].get(request.match_info["conference"])
    except DomainError as exc:
        return web.json_response(exc.as_dict(), status=exc.status_hint)
    if resume_from is not None and resume_from > hub.state.seq:
        with contextlib.suppress(StoreUnavailable):  # then it gets a snapshot
            await hub.catch_up()  # it saw more than this node has folded (a failover)
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    chunked = request.version >= (1, 1)
    if chunked:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    fanout = request.app[FANOUT]
    welcome: dict[str, Any] = {"type": "welcome", "conference": hub.id, "seq": hub.state.seq}
    opening, missed = hub.opening(PUBLIC, resume_from)
    welcome.update(opening)
    # A resumed welcome's id is where it resumed from: the missed messages carry theirs.
    welcome_id = resume_from if welcome.get("resumed") else hub.state.seq
    reader = SseReader(hub.id, fanout, request.transport, chunked)
    for text in missed:
        reader.send(frame(text, _seq_of(text)))
    hub.listeners.add(reader)  # from here on, whatever is folded waits in the reader
    # The first write goes through aiohttp (it sends the headers); the rest go straight
    # to the socket, framed as chunks the same way.
    try:
        await resp.write(b"retry: 2000\n" + frame(dumps(welcome), welcome_id))
    except BaseException:
        hub.listeners.discard(reader)
        raise
    reader.release()
    fanout.readers.add(reader)
    try:
        while not reader.closed:
            try:
                await asyncio.wait_for(asyncio.shield(reader.done), KEEPALIVE_S)
            except TimeoutError:
                reader.send(b": keepalive\n\n")
    finally:
        hub.listeners.discard(reader)
        fanout.readers.discard(reader)
        reader.close()
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp


async def close_readers(app: web.Application) -> None:
    """On shutdown: tell every reader the server is restarting (the live page says so
    while its EventSource reconnects), then end every stream, so the server need not
    wait for them."""
    bye = {"type": "restarting", "reason": shutdown.REASON}
    app[FANOUT].close_all(farewell=frame(dumps(bye)))
