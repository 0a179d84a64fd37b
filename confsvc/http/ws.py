"""The conference WebSocket: one JSON protocol for every page and bot (docs/protocol.md).

Each connection is an actor: a bounded queue and one writer task, so a slow browser
never slows the room; one that falls too far behind is closed with a reason. Every
message is validated and authorised; a bad one gets an ``error`` message that names the
problem, and the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from confsvc.core.errors import BadRequest, DomainError, Forbidden, RateLimited
from confsvc.core.events import Command, Principal
from confsvc.core.roles import Role
from confsvc.http.auth import principal_for_token
from confsvc.http.keys import CONFIG, HUBS, WS_CLOSE_HOOKS, WS_HANDLERS
from confsvc.service import Hub, dumps

log = logging.getLogger(__name__)

QUEUE_LIMIT = 512
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


class Connection:
    """One WebSocket: its principal, its hub and its outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse, hub: Hub, principal: Principal) -> None:
        self.ws = ws
        self.hub = hub
        self.principal = principal
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)
        self.closed = False
        self.state: dict[str, Any] = {}  # per-feature data (e.g. the media peer)
        self._closer: asyncio.Future[Any] | None = None
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{id(self)}")

    def __repr__(self) -> str:
        return f"Connection({self.hub.id}, {self.principal.actor})"

    def deliver(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("%r: too slow, closing", self)
            self.closed = True
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)
            self._closer = asyncio.ensure_future(
                self.ws.close(code=1008, message=b"too slow: messages piled up")
            )

    def send(self, payload: dict[str, Any]) -> None:
        self.deliver(dumps(payload))

    async def _write_loop(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                if text is None or self.ws.closed:
                    return
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("%r: writer stopped: %s", self, exc)

    async def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


def origin_allowed(request: web.Request) -> bool:
    """Browsers always send Origin: it must be this server or one configured.

    Clients that send none (bots, scripts) cannot be driven by another site's page.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    cfg = request.app[CONFIG]
    if origin in cfg.allowed_origins:
        return True
    parts = urlsplit(origin)
    host = request.headers.get("Host", "")
    return parts.scheme in ("http", "https") and parts.netloc == host


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
    try:
        principal = await _hello(request, ws, hub)
    except DomainError as exc:
        await ws.send_str(dumps(_error(None, exc)))
        await ws.close(code=1008, message=exc.message.encode()[:120])
        return ws
    if principal is None:
        return ws
    same = sum(1 for c in hub.listeners if c.principal.invite == principal.invite)
    if principal.role is not Role.PUBLIC and same >= cfg.max_connections_per_invite:
        refused = Forbidden(f"this link already has {same} open connections")
        await ws.send_str(dumps(_error(None, refused)))
        await ws.close(code=1008, message=b"too many connections for this link")
        return ws
    conn = Connection(ws, hub, principal)
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
            "ice_servers": cfg.ice_servers,
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


async def _hello(request: web.Request, ws: web.WebSocketResponse, hub: Hub) -> Principal | None:
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
        return Principal(role=Role.PUBLIC, invite="public")
    if not isinstance(token, str):
        raise BadRequest("token must be a string", field="token")
    return principal_for_token(request.app, token, conference=hub.id, revoked=hub.state.revoked)


def _parse(data: str) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"message is not JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(body, dict):
        raise BadRequest("message must be a JSON object")
    return body


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
        if conn.principal.invite in conn.hub.state.revoked:
            raise Forbidden("this invite link has been revoked")
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
        conn.send({"type": "error", "id": msg_id, "code": "internal", "message": "server error"})


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
