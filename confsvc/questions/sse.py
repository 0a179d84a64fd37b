"""Server-Sent Events for the public live page: each reader is a hub listener.

A reader is the public principal with a bounded queue and its own writer (the handler
coroutine), so a slow reader never slows the others; one that falls too far behind is
dropped and its browser reconnects (EventSource does that by itself) to a fresh
snapshot. Not for anything private: readers are always ``PUBLIC``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from confsvc.core.errors import DomainError
from confsvc.core.events import Principal
from confsvc.http.api import PUBLIC
from confsvc.http.keys import HUBS
from confsvc.service import dumps

log = logging.getLogger(__name__)

QUEUE_LIMIT = 256
KEEPALIVE_S = 15.0
READERS: web.AppKey[set[SseReader]] = web.AppKey("questions_sse_readers")


class SseReader:
    """One public page's event stream: ``deliver`` never blocks."""

    def __init__(self, conference: str) -> None:
        self.principal: Principal = PUBLIC
        self.conference = conference
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)
        self.closed = False

    def __repr__(self) -> str:
        return f"SseReader({self.conference}, {id(self):x})"

    def deliver(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.info("%r: too slow, dropping it", self)
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.queue = asyncio.Queue(1)
        self.queue.put_nowait(None)


def frame(text: str) -> bytes:
    # JSON from dumps() has no raw newlines, so one data line per message.
    return b"data: " + text.encode("utf-8") + b"\n\n"


async def live_events(request: web.Request) -> web.StreamResponse:
    """``GET /c/{conference}/live/events``: the public view, then every public message."""
    try:
        hub = await request.app[HUBS].get(request.match_info["conference"])
    except DomainError as exc:
        return web.json_response(exc.as_dict(), status=exc.status_hint)
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    reader = SseReader(hub.id)
    readers = request.app[READERS]
    welcome = {"type": "welcome", "conference": hub.id, "seq": hub.state.seq}
    welcome["views"] = hub.snapshot(PUBLIC)
    hub.listeners.add(reader)
    readers.add(reader)
    try:
        await resp.write(b"retry: 2000\n" + frame(dumps(welcome)))
        while True:
            try:
                text = await asyncio.wait_for(reader.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await resp.write(b": keepalive\n\n")
                continue
            if text is None:
                break
            chunk = [frame(text)]
            while not reader.queue.empty():  # write what piled up in one go
                more = reader.queue.get_nowait()
                if more is None:
                    reader.closed = True
                    break
                chunk.append(frame(more))
            await resp.write(b"".join(chunk))
            if reader.closed:
                break
    except (ConnectionError, RuntimeError) as exc:
        log.debug("%r: reader went away: %s", reader, exc)
    finally:
        hub.listeners.discard(reader)
        readers.discard(reader)
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp


async def close_readers(app: web.Application) -> None:
    """On shutdown: end every stream, so the server need not wait for them."""
    readers: set[SseReader] = app[READERS]
    for reader in list(readers):
        reader.close()
