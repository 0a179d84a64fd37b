"""Media signalling forwarded to the conference's home node.

A client's ``rtc.*`` messages reach whichever node holds its WebSocket. When that node is
not the conference's media home (``confsvc.media.home``), a ``HomeLink`` opens one
WebSocket to the home (``node_url``), says ``hello`` with the client's own token (so the
home decides who may publish or watch, as for a client of its own), sends the client's
``rtc.*`` messages there and passes every ``rtc.*`` reply and ``error`` back. The media
itself (ICE, DTLS, RTP) goes straight between the client and the home: the answer names
the home's addresses.

When the link closes without being asked to (the home died or stopped), the client is
told ``rtc.state`` ``failed`` with ``HOME_LOST`` and reconnects by itself; its next
offer finds the new home once the old lease has expired. A home that does not answer
gives ``unavailable`` with ``retry_after``.

Not for choosing the home (``home.py``) or for anything of the question side: commands,
views and SSE are served by every node from the store and the bus.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import aiohttp

from confsvc.aio import cancel_and_wait
from confsvc.core.error_codes import english
from confsvc.core.errors import Unavailable
from confsvc.media.home import Home

if TYPE_CHECKING:
    from confsvc.http.features import Connection

log = logging.getLogger(__name__)

HOME_LOST = english("media.home_lost", {})
# What a client is told when the home's socket closes: the English reason, and its key
# for the page's language (confsvc/core/error_codes.py).
HOME_LOST_STATE = {
    "type": "rtc.state",
    "state": "failed",
    "reason": HOME_LOST,
    "key": "media.home_lost",
    "params": {},
}
CONNECT_TIMEOUT_S = 3.0
HEARTBEAT_S = 2.0  # a home that vanished without closing is noticed within about this
RETRY_AFTER_S = 1.0


class HomeLink:
    """One client's signalling to its conference's home node (one WebSocket)."""

    def __init__(self, forwarder: Forwarder, conn: Connection, home: Home) -> None:
        self.forwarder = forwarder
        self.conn = conn
        self.home = home
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.closing = False
        self._reader: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"HomeLink({self.conn!r} -> {self.home.node})"

    async def open(self, token: str) -> None:
        url = f"{self.home.url}/c/{self.home.conference}/ws"
        try:
            self.ws = await self.forwarder.session.ws_connect(
                url,
                heartbeat=HEARTBEAT_S,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                max_msg_size=0,
            )
            await self.ws.send_json({"type": "hello", "token": token})
            welcome = await self.ws.receive_json(timeout=CONNECT_TIMEOUT_S)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError, TypeError) as exc:
            await self._drop()
            log.info("%r: the home at %s does not answer: %s", self, self.home.url, exc)
            raise Unavailable.keyed("media.home_silent", retry_after=RETRY_AFTER_S) from None
        if welcome.get("type") != "welcome":
            await self._drop()
            raise Unavailable.keyed(
                "media.home_refused", reason=welcome.get("message"), retry_after=RETRY_AFTER_S
            )
        self._reader = asyncio.create_task(self._read(), name=f"home-link {self.conn!r}")

    async def send(self, body: dict[str, Any]) -> None:
        if self.ws is None or self.ws.closed:
            raise Unavailable.keyed("media.home_gone", retry_after=RETRY_AFTER_S)
        await self.ws.send_str(json.dumps(body, ensure_ascii=False, separators=(",", ":")))

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for msg in self.ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                kind = data.get("type")
                if isinstance(kind, str) and (
                    kind.startswith("rtc.") or (kind == "error" and data.get("id") is not None)
                ):
                    self.conn.send(data)
        except Exception:
            log.exception("%r: reading from the home failed", self)
        finally:
            if not self.closing:
                log.info("%r: the home's socket closed (%s)", self, self.ws.close_code)
                self.forwarder.forget(self)
                self.conn.send(HOME_LOST_STATE)

    async def close(self) -> None:
        self.closing = True
        await self._drop()
        await cancel_and_wait(self._reader)

    async def _drop(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()


class Forwarder:
    """Every ``HomeLink`` of this node, by client connection, on one HTTP session."""

    def __init__(self) -> None:
        self.links: dict[object, HomeLink] = {}
        self._session: aiohttp.ClientSession | None = None
        self.forwarded = 0

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def forward(self, conn: Connection, home: Home, body: dict[str, Any]) -> None:
        """Send ``body`` to ``home`` for ``conn``, opening (or replacing) its link first."""
        link = self.links.get(conn)
        if link is not None and (link.home.node != home.node or link.ws is None or link.ws.closed):
            await self.drop(conn)
            link = None
        if link is None:
            token = conn.state.get("token")
            if not isinstance(token, str):
                raise Unavailable.keyed("media.not_forwardable")
            link = HomeLink(self, conn, home)
            await link.open(token)
            self.links[conn] = link
        self.forwarded += 1
        await link.send(body)

    def forget(self, link: HomeLink) -> None:
        if self.links.get(link.conn) is link:
            del self.links[link.conn]

    async def drop(self, conn: object) -> bool:
        """Close ``conn``'s link (its WebSocket closed, or its home moved)."""
        link = self.links.pop(conn, None)
        if link is None:
            return False
        await link.close()
        return True

    async def close(self) -> None:
        for conn in list(self.links):
            await self.drop(conn)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def stats(self) -> dict[str, Any]:
        return {
            "links": len(self.links),
            "forwarded": self.forwarded,
            "homes": sorted({link.home.node for link in self.links.values()}),
        }
