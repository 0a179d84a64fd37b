"""The moderator's written-answers dashboard and the expert's answer page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from confsvc.core import followup as F
from confsvc.core.errors import DomainError
from confsvc.core.permissions import Permission, require
from confsvc.http.auth import open_invite
from confsvc.http.i18n import render
from confsvc.http.keys import I18N
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


async def expert_page(request: web.Request, info: Any) -> web.StreamResponse:
    """The page an expert's invite link opens: their questions, a box to answer each."""
    hub, invite, token = info["hub"], info["invite"], info["token"]
    ctx = page_context(request, hub, invite, token)
    expert = F.experts(hub.state).get(invite.expert or "")
    ctx["boot"]["expert"] = invite.expert
    return render(request, "expert.html", expert=expert, **ctx)
