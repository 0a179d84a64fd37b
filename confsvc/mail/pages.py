"""The moderator's written-answers dashboard and the expert's answer page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from confsvc.core import written as W
from confsvc.core.errors import DomainError
from confsvc.core.permissions import Permission, require
from confsvc.http.auth import open_invite
from confsvc.http.features import I18N
from confsvc.http.i18n import render
from confsvc.http.pages import error_page, page_context


def _t(request: web.Request, text: str) -> str:
    i18n = request.app[I18N]
    return str(i18n.gettext(i18n.language_of(request), text))


async def written_page(request: web.Request) -> web.StreamResponse:
    """``GET /c/{conference}/written?t=<token>``: host and moderator links only."""
    token = request.query.get("t", "")
    try:
        hub, invite = await open_invite(
            request.app, token, conference=request.match_info["conference"]
        )
        require(
            invite, Permission.STAFF, f"role {invite.role.value!r} may not open the written answers"
        )
    except DomainError as exc:
        return error_page(
            request, exc.status_hint, _t(request, "This link does not work"), exc.message
        )
    ctx = page_context(request, hub, invite, token)
    ctx["boot"]["written"] = True
    return render(request, "written.html", **ctx)


async def mail_status(request: web.Request) -> web.StreamResponse:
    """``GET /c/{conference}/written/mail?t=<token>``: the state of this node's SMTP sender
    and IMAP poller, for the dashboard's banner (host and moderator links only)."""
    from confsvc.mail.setup import MAIL

    try:
        _hub, invite = await open_invite(
            request.app, request.query.get("t", ""), conference=request.match_info["conference"]
        )
        require(invite, Permission.STAFF, f"role {invite.role.value!r} may not see mail status")
    except DomainError as exc:
        return web.json_response(exc.as_dict(), status=exc.status_hint)
    service = request.app.get(MAIL)
    health = service.health() if service is not None else {}
    return web.json_response(health, headers={"Cache-Control": "no-store"})


async def expert_page(request: web.Request, info: Any) -> web.StreamResponse:
    """The page an expert's invite link opens: their questions, a box to answer each."""
    hub, invite, token = info["hub"], info["invite"], info["token"]
    ctx = page_context(request, hub, invite, token)
    expert = W.experts(hub.state).get(invite.expert or "")
    ctx["boot"]["expert"] = invite.expert
    return render(request, "expert.html", expert=expert, **ctx)
