"""Stopping the server on SIGTERM: what closes in which order, each step bounded.

``confsvc.cli.main.run_server`` drives it through aiohttp's runner:

1. the listening sockets close (``site.stop``): no new connection is accepted;
2. ``on_shutdown`` — this module first: new commands over a WebSocket are refused
   (``Unavailable``), the commands already running finish and get their ack (up to
   ``DRAIN_S``), then every WebSocket gets a close frame 1001 with ``REASON`` (pages show
   "server restarting — reconnecting…" and reconnect); then the SSE streams end with a
   last ``restarting`` message (``confsvc.questions.sse``), and the bots close;
3. aiohttp waits for the handlers still running (``HANDLERS_S``), then cancels them;
4. the ``cleanup_ctx`` exits: the mail sender finishes the mail it is sending and puts
   back the rows it had not begun (``confsvc.mail.sender``), the relay closes, the store
   closes once its last append is durable.

Together that is well under 5 s (``bench/shutdown.py`` measures it). Not for stopping
a single conference: that is ``confsvc admin archive``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Iterator

from aiohttp import web

log = logging.getLogger(__name__)

GOING_AWAY = 1001  # RFC 6455 7.4.1: the server is going down
REASON = "server restarting"
DRAIN_S = 1.0  # commands already running may finish (an append takes milliseconds)
CLOSE_S = 1.0  # for the clients' close replies; the 1001 frame itself goes out at once
HANDLERS_S = 1.0  # aiohttp's wait for handlers that are still running, then cancel


class Shutdown:
    """The app's open WebSockets and running commands, and the on_shutdown step that
    refuses new commands, lets running ones finish, then closes every socket with 1001."""

    def __init__(self) -> None:
        # Weak: a socket whose handler has returned drops out by itself.
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.draining = False
        self.closed_sockets = 0
        self._busy = 0
        self._idle: asyncio.Event | None = None

    def track(self, ws: web.WebSocketResponse) -> None:
        self.sockets.add(ws)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Around handling one message, so shutdown can wait for it to finish."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0 and self._idle is not None:
                self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no message is being handled; False if some still were at the end."""
        if self._busy == 0:
            return True
        self._idle = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self._busy == 0

    async def close_sockets(self, timeout_s: float = CLOSE_S) -> int:
        """Send every open WebSocket 1001 with ``REASON``; the number of sockets closed."""
        sockets = [ws for ws in list(self.sockets) if not ws.closed]
        message = REASON.encode()
        tasks = [
            asyncio.ensure_future(ws.close(code=GOING_AWAY, message=message)) for ws in sockets
        ]
        if tasks:
            # The close frames are written at once; this only waits for the replies.
            _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.info("a WebSocket did not close cleanly: %s", task.exception())
        self.closed_sockets += len(sockets)
        return len(sockets)

    async def on_shutdown(self, app: web.Application) -> None:
        started = time.monotonic()
        self.draining = True
        if not await self.wait_idle(DRAIN_S):
            log.warning(
                "shutdown: %d message(s) still being handled after %g s", self._busy, DRAIN_S
            )
        n = await self.close_sockets()
        log.info(
            "shutdown: %d WebSocket(s) closed with %d %r in %.2f s",
            n,
            GOING_AWAY,
            REASON,
            time.monotonic() - started,
        )
