"""Invite links from the host console: the ``invite.create`` WebSocket message.

The message is translated into an ``InviteRequest`` for ``Hub.issue_invite``, which
decides (``confsvc.core.invites.check_issue``), signs, records with ``invite.record`` and
only then returns the token; only the creating connection ever sees it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from confsvc.core.errors import BadRequest
from confsvc.core.invites import InviteRequest, record_args
from confsvc.core.permissions import Permission, require
from confsvc.core.roles import Role
from confsvc.http import features
from confsvc.http.keys import CONFIG, SECRET
from confsvc.http.wsconn import Connection

MAX_TTL_HOURS = 24 * 365


def setup(app: web.Application) -> None:
    async def create(conn: Connection, body: dict[str, Any]) -> None:
        # Refused before its arguments are read, as every command is (Rules.check_allowed).
        require(
            conn.principal,
            Permission.INVITE,
            f"role {conn.principal.role.value!r} may not create invites",
        )
        role_name = body.get("role")
        try:
            role = Role(str(role_name))
        except ValueError:
            raise BadRequest.keyed("invite.unknown_role", role=role_name, field="role") from None
        site = body.get("site") or None
        name = body.get("name") or None
        ttl_hours = body.get("ttl_hours", 14 * 24)
        if not isinstance(ttl_hours, (int, float)) or not 0 < ttl_hours <= MAX_TTL_HOURS:
            raise BadRequest.keyed("invite.ttl_hours", max=MAX_TTL_HOURS, field="ttl_hours")
        if site is not None and not isinstance(site, str):
            raise BadRequest.keyed("invite.not_text", field="site")
        if name is not None and not isinstance(name, str):
            raise BadRequest.keyed("invite.not_text", field="name")
        request = InviteRequest(role=role, site=site, name=name, ttl_s=int(ttl_hours * 3600))
        invite, token = await conn.hub.issue_invite(conn.principal, app[SECRET], request)
        args = record_args(invite)
        cfg = app[CONFIG]
        reply = {"type": "invite", "id": body.get("id"), "path": f"{cfg.base_path}/j/{token}"}
        if cfg.public_url:  # else the page knows its own origin better than we do
            reply["url"] = f"{cfg.base_url}/j/{token}"
        conn.send({**reply, "invite": args})

    features.handle_message(app, "invite.create", create)
