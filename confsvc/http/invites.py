"""Invite links from the host console: the ``invite.create`` WebSocket message.

The server signs the token (it holds the secret) and records the invite in the log with
the host's ``invite.record`` command; only the creating connection ever sees the token.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from confsvc.core.errors import BadRequest, Forbidden
from confsvc.core.events import Command
from confsvc.core.roles import Role, issue_invite
from confsvc.http.keys import CONFIG, SECRET, WS_HANDLERS
from confsvc.http.ws import Connection

MAX_TTL_HOURS = 24 * 365


def setup(app: web.Application) -> None:
    async def create(conn: Connection, body: dict[str, Any]) -> None:
        if conn.principal.role is not Role.HOST:
            raise Forbidden(f"role {conn.principal.role.value!r} may not create invites")
        role_name = body.get("role")
        try:
            role = Role(str(role_name))
        except ValueError:
            raise BadRequest(f"unknown role {role_name!r}", field="role") from None
        site = body.get("site") or None
        name = body.get("name") or None
        ttl_hours = body.get("ttl_hours", 14 * 24)
        if not isinstance(ttl_hours, (int, float)) or not 0 < ttl_hours <= MAX_TTL_HOURS:
            raise BadRequest(f"ttl_hours must be between 0 and {MAX_TTL_HOURS}", field="ttl_hours")
        if site is not None and not isinstance(site, str):
            raise BadRequest("site must be a string", field="site")
        if name is not None and not isinstance(name, str):
            raise BadRequest("name must be a string", field="name")
        invite_id = secrets.token_hex(6)
        invite, token = issue_invite(
            app[SECRET],
            conference=conn.hub.id,
            role=role,
            site=site,
            name=name,
            now=time.time(),
            ttl_s=int(ttl_hours * 3600),
            invite_id=invite_id,
        )
        args = {
            "id": invite.id,
            "role": role.value,
            "site": site,
            "expires": invite.expires,
            "name": name,
        }
        await conn.hub.execute(conn.principal, Command(name="invite.record", args=args))
        cfg = app[CONFIG]
        reply = {"type": "invite", "id": body.get("id"), "path": f"{cfg.base_path}/j/{token}"}
        if cfg.public_url:  # else the page knows its own origin better than we do
            reply["url"] = f"{cfg.base_url}/j/{token}"
        conn.send({**reply, "invite": args})

    app[WS_HANDLERS]["invite.create"] = create
