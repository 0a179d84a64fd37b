"""The conference WebSocket: the handshake and the dispatch of one JSON protocol for
every page and bot (docs/protocol.md).

The handshake checks the Origin, the ``hello`` and the per-link connection limit; then
each message is rate-limited, validated and authorised, and a bad one gets an ``error``
message that names the problem while the socket stays open. The connection itself
(queued writes, slow clients, closing) is ``confsvc.http.wsconn.Connection``; frames are
``confsvc.http.wsframes``; parsing is ``confsvc.http.wsjson``. Features add message
types and close hooks through ``confsvc.http.features``.
"""

from __future__ import annotations

import contextlib
import logging
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
from confsvc.core.events import Command, Event, Principal
from confsvc.core.idempotency import check_key
from confsvc.core.permissions import anonymous
from confsvc.core.roles import Role
from confsvc.http import linkwatch
from confsvc.http.audience import person_for_hello, welcome_fields
from confsvc.http.auth import check_invite, principal_of
from confsvc.http.keys import (
    CLOCK,
    CONFIG,
    HELLO_TOKEN,
    HUBS,
    SHUTDOWN,
    WS_CLOSE_HOOKS,
    WS_HANDLERS,
)
from confsvc.http.server import CONNECTION_CAP
from confsvc.http.wsconn import WRITE_BUFFER_LIMIT, Connection, TokenBucket
from confsvc.http.wsframes import text_frame
from confsvc.http.wsjson import parse_message
from confsvc.ice import ice_servers_for
from confsvc.service import Hub, dumps
from confsvc.store.guarded import StoreUnavailable

log = logging.getLogger(__name__)

# Where they were defined before the split; imported from here by features and tests.
__all__ = ["WRITE_BUFFER_LIMIT", "Connection", "TokenBucket", "text_frame", "websocket"]

HELLO_TIMEOUT_S = 10.0


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
    try:
        hub = await request.app[HUBS].get(request.match_info["conference"])
    except DomainError as exc:
        return web.Response(status=exc.status_hint, text=exc.message + "\n")
    cfg = request.app[CONFIG]
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=cfg.ws_max_msg_bytes, compress=False)
    await ws.prepare(request)
    request.app[SHUTDOWN].track(ws)  # SIGTERM closes it with 1001
    conn = await _open(request, ws, hub)
    if conn is None:
        return ws
    try:
        await _serve(request, conn)
    finally:
        await _closed(request, conn)
    return ws


async def _refuse(ws: web.WebSocketResponse, exc: DomainError, reason: bytes) -> None:
    """An ``error`` naming why, then close 1008 (policy) with a short reason."""
    await ws.send_str(dumps(_error(None, exc)))
    await ws.close(code=1008, message=reason[:120])


async def _open(request: web.Request, ws: web.WebSocketResponse, hub: Hub) -> Connection | None:
    """The hello, the per-person limit, then the welcome and what a resuming client
    missed; ``None`` when the socket was refused (and closed)."""
    try:
        hello = await _hello(request, ws, hub)
    except DomainError as exc:
        await _refuse(ws, exc, exc.message.encode())
        return None
    except Exception:
        log.exception("%r: hello failed", hub)
        await ws.close(code=1011, message=b"server error")
        return None
    if hello is None:
        return None
    principal, expires, resume_from = hello
    cfg = request.app[CONFIG]
    if not anonymous(principal):  # a valid token: no longer an anonymous connection
        request.app[CONNECTION_CAP].authenticated(request.transport)
        # Per person: on a shared audience link each browser is one (core.audience).
        same = sum(1 for c in hub.listeners if c.principal.identity == principal.identity)
        if same >= cfg.max_connections_per_invite:
            refused = Forbidden(f"this link already has {same} open connections")
            await _refuse(ws, refused, b"too many connections for this link")
            return None
    if resume_from is not None and resume_from > hub.state.seq:
        with contextlib.suppress(StoreUnavailable):  # then it gets a snapshot
            await hub.catch_up()  # it saw more than this node has folded (a failover)
    conn = Connection(ws, hub, principal, request.transport)
    conn.expires = expires  # checked per message and by confsvc.http.linkwatch
    conn.state["token"] = request.get(HELLO_TOKEN)  # confsvc.media.forward
    opening, missed = hub.opening(principal, resume_from)
    conn.send({**_welcome(request, hub, principal), **opening})
    for text in missed:  # no await since the backlog was read: nothing falls in between
        conn.deliver(text)
    hub.listeners.add(conn)
    return conn


def _welcome(request: web.Request, hub: Hub, principal: Principal) -> dict[str, Any]:
    """The welcome's fixed part: who you are and the ICE servers (the views, or what a
    resuming client missed, come from ``Hub.opening``)."""
    return {
        "type": "welcome",
        "conference": hub.id,
        "seq": hub.state.seq,
        "you": {
            "role": principal.role.value,
            "site": principal.site,
            "invite": principal.invite,
            "name": principal.name,
            **welcome_fields(request.app, hub.id, principal),
        },
        "ice_servers": ice_servers_for(
            request.app[CONFIG], f"{hub.id}.{principal.actor}", time.time()
        ),
    }


async def _serve(request: web.Request, conn: Connection) -> None:
    """Each message in turn, rate-limited; binary frames are refused, the socket stays."""
    cfg = request.app[CONFIG]
    bucket = TokenBucket(cfg.ws_rate_per_s, cfg.ws_burst, clock=request.app[CLOCK])
    async for msg in conn.ws:
        if msg.type is WSMsgType.TEXT:
            if not bucket.take():
                conn.send(_error(None, RateLimited("too many messages: slow down")))
                continue
            with request.app[SHUTDOWN].busy():
                await _handle(request, conn, msg.data)
        elif msg.type is WSMsgType.BINARY:
            conn.send(_error(None, BadRequest("binary messages are not accepted")))
        elif msg.type is WSMsgType.ERROR:
            log.info("%r: socket error %s", conn, conn.ws.exception())


async def _closed(request: web.Request, conn: Connection) -> None:
    """Out of the hub's listeners, then every feature's close hook, then the close."""
    conn.hub.listeners.discard(conn)
    for hook in request.app[WS_CLOSE_HOOKS]:
        try:
            await hook(conn)
        except Exception:
            log.exception("%r: close hook failed", conn)
    await conn.close()


def check_resume_seq(value: object, field: str = "seq") -> int | None:
    """The seq a client resumes from, or ``BadRequest`` naming ``field``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{field} must be a whole number, 0 or more", field=field)
    return value


async def _hello(
    request: web.Request, ws: web.WebSocketResponse, hub: Hub
) -> tuple[Principal, float | None, int | None] | None:
    """The principal, when its link expires (``None``: public, never) and the seq it
    resumes from (``None``: a snapshot, please)."""
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
    resume_from = check_resume_seq(body.get("seq"))
    token = body.get("token")
    if token is None:
        return Principal(role=Role.PUBLIC, invite="public"), None, resume_from
    if not isinstance(token, str):
        raise BadRequest("token must be a string", field="token")
    invite = check_invite(request.app, token, conference=hub.id, revoked=hub.state.revoked)
    request[HELLO_TOKEN] = token  # media signalling forwarded to another node says it again
    principal = person_for_hello(request.app, invite, principal_of(invite), body.get("person"))
    return principal, float(invite.expires), resume_from


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
            raise Unavailable(
                "the server is restarting: send it again once reconnected", retry_after=1.0
            )
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
    key = check_key(body.get("key"))
    events = await conn.hub.execute(conn.principal, Command(name=name, args=args, key=key))
    conn.send(ack(msg_id, events, conn.hub.state.seq))


def ack(msg_id: Any, events: list[Event], seq: int) -> dict[str, Any]:
    """A command's ``ack``: the same for a command and for its re-sending with its key.

    ``ids``: the ids the events name (a new question's), when there are any.
    """
    out: dict[str, Any] = {
        "type": "ack",
        "id": msg_id,
        "seq": events[-1].seq if events else seq,
        "events": [e.type for e in events],
    }
    ids = list(dict.fromkeys(e.data["id"] for e in events if isinstance(e.data.get("id"), str)))
    if ids:
        out["ids"] = ids
    return out
