"""The conference WebSocket: one JSON protocol for every page and bot (docs/protocol.md).

Each connection is an actor: a bounded queue and one writer task, so a slow browser
never slows the room; one that falls too far behind is closed with a reason. Every
message is validated and authorised; a bad one gets an ``error`` message that names the
problem, and the socket stays open.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from confsvc.core.errors import (
    BadRequest,
    DomainError,
    Forbidden,
    Internal,
    RateLimited,
    Unavailable,
)
from confsvc.core.events import Command, Principal
from confsvc.core.permissions import anonymous
from confsvc.core.roles import Role
from confsvc.http import linkwatch
from confsvc.http.auth import check_invite, principal_of
from confsvc.http.keys import CLOCK, CONFIG, HUBS, SHUTDOWN, WS_CLOSE_HOOKS, WS_HANDLERS
from confsvc.http.server import CONNECTION_CAP
from confsvc.http.wsjson import parse_message
from confsvc.media.ice import ice_servers_for
from confsvc.service import Hub, dumps

log = logging.getLogger(__name__)

WRITE_BUFFER_LIMIT = 1024 * 1024  # bytes waiting for a client before it is dropped
HELLO_TIMEOUT_S = 10.0


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def text_frame(text: str) -> bytes:
    """One unmasked, uncompressed WebSocket text frame (RFC 6455 section 5.2).

    Server frames are the same bytes for every client, so a broadcast builds each frame
    once and writes it to every socket (see ``Connection.deliver``).
    """
    data = text.encode("utf-8")
    n = len(data)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + data


class _FrameCache:
    """The frame of the text being broadcast: a hub hands the same str to every listener."""

    text: str | None = None
    frame: bytes = b""

    def get(self, text: str) -> bytes:
        if text is not self.text:
            self.text, self.frame = text, text_frame(text)
        return self.frame


_frames = _FrameCache()


class _Flusher:
    """Writes what each connection got during one turn of the event loop in one system
    call: an on-air change (question, floor, run of show) is three frames but one write."""

    def __init__(self) -> None:
        self.due: list[Connection] = []
        self.scheduled = False

    def mark(self, conn: Connection) -> None:
        self.due.append(conn)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        due, self.due, self.scheduled = self.due, [], False
        for conn in due:
            conn.flush()


_flusher = _Flusher()


class Connection:
    """One WebSocket: its principal, its hub, and writes that never wait.

    ``deliver`` queues the frame; once per turn of the event loop everything queued goes
    to the socket's transport in one ``write``: no task per connection, so a broadcast
    to thousands costs one write each. A client
    that stops reading lets its transport buffer grow; past ``WRITE_BUFFER_LIMIT`` it is
    closed with a reason, so one slow browser never holds the room back.
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
        self._closer: asyncio.Future[Any] | None = None
        self._pending: list[bytes] = []

    def __repr__(self) -> str:
        return f"Connection({self.hub.id}, {self.principal.actor})"

    def deliver(self, text: str) -> None:
        if self.closed:
            return
        transport = self.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            self.closed = True
            return
        if transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            log.warning("%r: too slow, closing", self)
            self.closed = True
            self._closer = asyncio.ensure_future(
                self.ws.close(code=1008, message=b"too slow: messages piled up")
            )
            return
        if not self._pending:
            _flusher.mark(self)
        self._pending.append(_frames.get(text))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if self.closed or not pending or self.transport is None or self.transport.is_closing():
            return
        self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def send(self, payload: dict[str, Any]) -> None:
        self.deliver(dumps(payload))

    async def close(self) -> None:
        self.closed = True


def origin_allowed(request: web.Request) -> bool:
    """Browsers always send Origin: it must be the public URL's origin or one configured.

    With ``--public-url`` the Host header is not consulted: behind a proxy it names the
    upstream (nginx's default ``proxy_set_header Host $proxy_host``), not the page's
    origin. Without it, the server's own origin (``Host``) is the one allowed.
    Clients that send none (bots, scripts) cannot be driven by another site's page.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    cfg = request.app[CONFIG]
    if _same_origin(origin, cfg.allowed_origins):
        return True
    if cfg.public_origin is not None:
        return _same_origin(origin, [cfg.public_origin])
    parts = urlsplit(origin)
    host = request.headers.get("Host", "")
    return parts.scheme in ("http", "https") and parts.netloc == host


def _same_origin(origin: str, allowed: list[str]) -> bool:
    """Origins compare as scheme and host (case-insensitive) and port (default filled in)."""

    def key(text: str) -> tuple[str, str, int | None] | None:
        try:
            parts = urlsplit(text.strip().rstrip("/"))
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
        except ValueError:
            return None
        return (parts.scheme.lower(), (parts.hostname or "").lower(), port)

    mine = key(origin)
    return mine is not None and mine[1] != "" and any(key(a) == mine for a in allowed)


def _error(msg_id: Any, exc: DomainError) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", **exc.as_dict()}
    if msg_id is not None:
        out["id"] = msg_id
    return out


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /c/{conference}/ws``: the first message must be ``hello`` (token or public)."""
    if not origin_allowed(request):
        return web.Response(status=403, text="WebSocket origin not allowed\n")
    cfg = request.app[CONFIG]
    hubs = request.app[HUBS]
    try:
        hub = await hubs.get(request.match_info["conference"])
    except DomainError as exc:
        return web.Response(status=exc.status_hint, text=exc.message + "\n")
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=cfg.ws_max_msg_bytes, compress=False)
    await ws.prepare(request)
    request.app[SHUTDOWN].track(ws)  # SIGTERM closes it with 1001
    try:
        hello = await _hello(request, ws, hub)
    except DomainError as exc:
        await ws.send_str(dumps(_error(None, exc)))
        await ws.close(code=1008, message=exc.message.encode()[:120])
        return ws
    except Exception:
        log.exception("%r: hello failed", hub)
        await ws.close(code=1011, message=b"server error")
        return ws
    if hello is None:
        return ws
    principal, expires = hello
    if not anonymous(principal):  # a valid token: no longer an anonymous connection
        request.app[CONNECTION_CAP].authenticated(request.transport)
    same = sum(1 for c in hub.listeners if c.principal.invite == principal.invite)
    if not anonymous(principal) and same >= cfg.max_connections_per_invite:
        refused = Forbidden(f"this link already has {same} open connections")
        await ws.send_str(dumps(_error(None, refused)))
        await ws.close(code=1008, message=b"too many connections for this link")
        return ws
    conn = Connection(ws, hub, principal, request.transport)
    conn.expires = expires  # checked per message and by confsvc.http.linkwatch
    conn.send(
        {
            "type": "welcome",
            "conference": hub.id,
            "seq": hub.state.seq,
            "you": {
                "role": principal.role.value,
                "site": principal.site,
                "invite": principal.invite,
                "name": principal.name,
            },
            "views": hub.snapshot(principal),
            "ice_servers": ice_servers_for(cfg, f"{hub.id}.{principal.actor}", time.time()),
        }
    )
    hub.listeners.add(conn)
    bucket = TokenBucket(cfg.ws_rate_per_s, cfg.ws_burst)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                if not bucket.take():
                    conn.send(_error(None, RateLimited("too many messages: slow down")))
                    continue
                with request.app[SHUTDOWN].busy():
                    await _handle(request, conn, msg.data)
            elif msg.type is WSMsgType.BINARY:
                conn.send(_error(None, BadRequest("binary messages are not accepted")))
            elif msg.type is WSMsgType.ERROR:
                log.info("%r: socket error %s", conn, ws.exception())
    finally:
        hub.listeners.discard(conn)
        for hook in request.app[WS_CLOSE_HOOKS]:
            try:
                await hook(conn)
            except Exception:
                log.exception("%r: close hook failed", conn)
        await conn.close()
    return ws


async def _hello(
    request: web.Request, ws: web.WebSocketResponse, hub: Hub
) -> tuple[Principal, float | None] | None:
    """The principal and when its link expires (``None``: public, never)."""
    try:
        msg = await ws.receive(timeout=HELLO_TIMEOUT_S)
    except TimeoutError:
        raise BadRequest("expected a hello message first") from None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
        return None
    if msg.type is not WSMsgType.TEXT:
        raise BadRequest("expected a hello message first")
    body = _parse(msg.data)
    if body.get("type") != "hello":
        raise BadRequest("expected a hello message first", field="type")
    token = body.get("token")
    if token is None:
        return Principal(role=Role.PUBLIC, invite="public"), None
    if not isinstance(token, str):
        raise BadRequest("token must be a string", field="token")
    invite = check_invite(request.app, token, conference=hub.id, revoked=hub.state.revoked)
    return principal_of(invite), float(invite.expires)


def _parse(data: str) -> dict[str, Any]:
    return parse_message(data)  # bounded depth and numbers: confsvc/http/wsjson.py


async def _handle(request: web.Request, conn: Connection, data: str) -> None:
    msg_id: Any = None
    try:
        body = _parse(data)
        msg_id = body.get("id")
        if msg_id is not None and not isinstance(msg_id, (int, str)):
            msg_id = None
            raise BadRequest("id must be a number or a string", field="id")
        kind = body.get("type")
        if not isinstance(kind, str):
            raise BadRequest("missing field type", field="type")
        link_ended = linkwatch.ended(conn, request.app[CLOCK]())
        if link_ended is not None:  # expired or revoked since the socket opened
            linkwatch.end(conn, link_ended, msg_id)
            return
        if kind == "command" and request.app[SHUTDOWN].draining:
            raise Unavailable("the server is restarting: send it again once reconnected")
        if kind == "command":
            await _command(conn, body, msg_id)
        elif kind == "ping":
            conn.send({"type": "pong", "id": msg_id, "now": conn.hub.clock()})
        elif kind in request.app[WS_HANDLERS]:
            await request.app[WS_HANDLERS][kind](conn, body)
        else:
            raise BadRequest(f"unknown message type {kind!r}", field="type")
    except DomainError as exc:
        conn.send(_error(msg_id, exc))
    except Exception:
        log.exception("%r: failed to handle a message", conn)
        conn.send({"type": "error", "id": msg_id, **Internal("server error").as_dict()})


async def _command(conn: Connection, body: dict[str, Any], msg_id: Any) -> None:
    name = body.get("name")
    if not isinstance(name, str):
        raise BadRequest("missing field name", field="name")
    args = body.get("args", {})
    if not isinstance(args, dict):
        raise BadRequest("args must be an object", field="args")
    events = await conn.hub.execute(conn.principal, Command(name=name, args=args))
    conn.send(
        {
            "type": "ack",
            "id": msg_id,
            "seq": events[-1].seq if events else conn.hub.state.seq,
            "events": [e.type for e in events],
        }
    )
