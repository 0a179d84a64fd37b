"""The listening socket: timeouts for slow clients and a cap on anonymous connections.

aiohttp reads a request head for as long as a client takes to send it, so 1,000
"slowloris" clients trickling a header byte at a time would each hold a connection for
ever. Two bounds, both from ``Config`` (docs/protocol.md, "Limits"):

- **header timeout** (``http_header_timeout_s``): aiohttp's keep-alive timer, which it
  starts when a connection opens and again after each response, closes a connection
  still idle — no complete request head — when it runs out. Trickled bytes do not
  restart it. Upload bodies have their own bound (``http_body_timeout_s``,
  ``confsvc.http.forms``); WebSockets have their heartbeat and hello timeout.
- **per-address cap** (``max_anonymous_connections_per_address``): at most N open
  connections from one address on which no valid token has been seen; the next is
  answered ``503`` and closed before aiohttp sees it. A WebSocket whose ``hello`` carried
  a valid token stops counting (``ConnectionCap.authenticated``), so a room of
  participants behind one NAT is not refused. Addresses in ``connection_cap_exempt``
  (a reverse proxy's: behind one, every client has its address) are not counted.

``GuardedSite`` is a ``web.TCPSite`` whose protocol factory wraps aiohttp's own handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from aiohttp import web

from confsvc.config import Config

log = logging.getLogger(__name__)


class ConnectionCap:
    """Open connections per address that have not shown a valid token."""

    def __init__(self, limit: int, exempt: list[str]) -> None:
        self.limit = limit
        self.exempt = frozenset(exempt)
        self.anonymous: Counter[str] = Counter()
        self._address: dict[int, str] = {}  # id(transport) -> address, while anonymous

    def admit(self, address: str, transport: asyncio.BaseTransport) -> bool:
        if self.limit <= 0 or address in self.exempt:
            return True
        if self.anonymous[address] >= self.limit:
            return False
        self.anonymous[address] += 1
        self._address[id(transport)] = address
        return True

    def authenticated(self, transport: object) -> None:
        """A valid token was seen on this connection: it no longer counts."""
        address = self._address.pop(id(transport), None)
        if address is not None:
            self._release(address)

    def closed(self, transport: asyncio.BaseTransport) -> None:
        self.authenticated(transport)

    def _release(self, address: str) -> None:
        self.anonymous[address] -= 1
        if self.anonymous[address] <= 0:
            del self.anonymous[address]  # nothing kept for an address that left


CONNECTION_CAP: web.AppKey[ConnectionCap] = web.AppKey("connection_cap")


def refusal(limit: int) -> bytes:
    body = (
        f"too many connections from your address without an invite token (at most {limit})\n"
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 10\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class _Guarded(asyncio.Protocol):
    """aiohttp's request handler behind the per-address admission check."""

    def __init__(self, inner: asyncio.Protocol, cap: ConnectionCap) -> None:
        self.inner: asyncio.Protocol | None = inner
        self.cap = cap
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        if not self.cap.admit(address, transport):
            log.info(
                "refused a connection from %s: %d open without a token", address, self.cap.limit
            )
            self.inner = None
            assert isinstance(transport, asyncio.Transport)
            transport.write(refusal(self.cap.limit))
            transport.close()
            return
        self.transport = transport
        assert self.inner is not None
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.cap.closed(self.transport)
        if self.inner is not None:
            self.inner.connection_lost(exc)


class GuardedSite(web.TCPSite):
    """A TCP site whose connections pass the app's ``ConnectionCap`` first."""

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        cap = self._runner.app[CONNECTION_CAP]  # type: ignore[attr-defined]

        def factory() -> asyncio.Protocol:
            return _Guarded(server(), cap)

        self._server = await loop.create_server(
            factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
        else:
            self._bound_port = self._port


def make_runner(app: web.Application, config: Config, **kwargs: Any) -> web.AppRunner:
    """An ``AppRunner`` with the header timeout (aiohttp's keep-alive timer)."""
    return web.AppRunner(app, keepalive_timeout=config.http_header_timeout_s, **kwargs)


def setup(app: web.Application, config: Config) -> None:
    app[CONNECTION_CAP] = ConnectionCap(
        config.max_anonymous_connections_per_address, config.connection_cap_exempt
    )
