"""One conference WebSocket as the rest of the server sees it: ``Connection``.

Each connection is an actor without a task of its own: ``deliver`` queues a frame and
never waits; once per turn of the event loop everything queued goes to the socket's
transport in one ``write`` (``confsvc.http.wsframes``). ``close`` is the one way to end
it: it stops delivery, closes the socket with a code and reason, and is awaited; every
closer (the handler's exit, a slow client, an expired or revoked link) shares its task.

What this module is not: the handshake and the message dispatch (``confsvc.http.ws``),
or parsing (``confsvc.http.wsjson``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from confsvc.core.events import Principal
from confsvc.http.wsframes import flusher, frames
from confsvc.service import Hub, dumps

log = logging.getLogger(__name__)

WRITE_BUFFER_LIMIT = 1024 * 1024  # bytes waiting for a client before it is dropped


class TokenBucket:
    """``rate`` messages a second, ``burst`` at once; time from ``clock`` (seconds), so
    a test moves it instead of sleeping."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst = rate, float(burst)
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        # max(): a clock set back (the wall clock, a test's) never takes tokens away.
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Connection:
    """One WebSocket: its principal, its hub, and writes that never wait.

    A client that stops reading lets its transport buffer grow; past
    ``WRITE_BUFFER_LIMIT`` more than the largest frame it was sent (a staff welcome of a
    conference with a thousand questions is itself about a megabyte, and the live
    messages right after it must not cut the console off) it is closed with a reason, so
    one slow browser never holds the room back.
    """

    def __init__(
        self, ws: web.WebSocketResponse, hub: Hub, principal: Principal, transport: Any
    ) -> None:
        self.ws = ws
        self.hub = hub
        self.principal = principal
        self.transport = transport
        self.closed = False
        self.expires: float | None = None  # when the link expires (None: public)
        self.state: dict[str, Any] = {}  # per-feature data (e.g. the media peer)
        self._closing: asyncio.Future[None] | None = None
        self._pending: list[bytes] = []
        self._largest = 0  # the largest frame sent: the buffer may hold it on top of the limit

    def __repr__(self) -> str:
        return f"Connection({self.hub.id}, {self.principal.actor})"

    def deliver(self, text: str) -> None:
        if self.closed:
            return
        transport = self.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            self.closed = True
            return
        if transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT + self._largest:
            log.warning("%r: too slow, closing", self)
            self.start_close(1008, b"too slow: messages piled up")
            return
        if not self._pending:
            flusher.mark(self)
        frame = frames.get(text)
        if len(frame) > self._largest:
            self._largest = len(frame)
        self._pending.append(frame)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if self.closed or not pending or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def send(self, payload: dict[str, Any]) -> None:
        self.deliver(dumps(payload))

    def start_close(self, code: int = 1000, message: bytes = b"") -> asyncio.Future[None]:
        """Stop delivering and start closing the socket; the one close task (a second
        call, whatever its code, returns the first's). For callers that cannot await;
        others ``await close()``."""
        self.closed = True
        self._pending.clear()
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_socket(code, message))
        return self._closing

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        """Close with ``code`` and ``message`` (unless already closing) and wait until the
        socket is closed."""
        await self.start_close(code, message)

    async def _close_socket(self, code: int, message: bytes) -> None:
        if self.ws.closed:
            return
        try:
            await self.ws.close(code=code, message=message)
        except Exception as exc:  # the peer went away mid-close: it is closed all the same
            log.info("%r: close: %s", self, exc)
