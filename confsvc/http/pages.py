"""Server-rendered pages: the landing page, invite links, the host console, errors."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from confsvc.core.errors import DomainError
from confsvc.core.roles import Invite, Role
from confsvc.http.auth import open_invite, principal_of
from confsvc.http.i18n import render
from confsvc.http.keys import CONFIG, HUBS, I18N, ROLE_PAGES
from confsvc.ice import ice_servers_for
from confsvc.service import Hub

ROLE_TEMPLATES = {
    Role.HOST: "host.html",
}


def error_page(request: web.Request, status: int, title: str, detail: str) -> web.Response:
    return render(request, "error.html", status=status, title=title, detail=detail)


async def index(request: web.Request) -> web.Response:
    hubs = request.app[HUBS]
    conferences = []
    for cid in await hubs.store.list_conferences():
        try:
            hub = await hubs.get(cid)
        except DomainError:
            continue
        conferences.append(hub)
    return render(request, "index.html", conferences=conferences)


def page_context(
    request: web.Request, hub: Hub, invite: Invite | None, token: str | None
) -> dict[str, Any]:
    """What every conference page gets: the agenda, the boot data for its script."""
    agenda = hub.state.require_agenda()
    cfg = request.app[CONFIG]
    principal = principal_of(invite) if invite is not None else None
    boot = {
        "conference": hub.id,
        "token": token,
        "invite": invite.id if invite is not None else None,  # keys the person (person.js)
        "role": principal.role.value if principal else "public",
        "site": principal.site if principal else None,
        "base": cfg.base_path,
        "ws": f"{cfg.base_path}/c/{hub.id}/ws",
        "ice_servers": ice_servers_for(
            cfg, f"{hub.id}.{principal.actor if principal else 'public'}", time.time()
        ),
        "max_video_kbps": cfg.max_video_kbps,
        "lang": request.app[I18N].language_of(request),
        "site_names": {s.id: s.name for s in agenda.sites},
        "site_timezones": {s.id: s.timezone for s in agenda.sites},
    }
    return {
        "hub": hub,
        "agenda": agenda,
        "invite": invite,
        "principal": principal,
        "boot": boot,
        "sites": {s.id: s for s in agenda.sites},
    }


async def join(request: web.Request) -> web.StreamResponse:
    """``GET /j/{token}``: an invite link opens its role's page."""
    token = request.match_info["token"]
    try:
        hub, invite = await open_invite(request.app, token)
    except DomainError as exc:
        i18n = request.app[I18N]
        detail = i18n.error_text(i18n.language_of(request), exc)
        return error_page(request, exc.status_hint, _("This link does not work", request), detail)
    page = request.app[ROLE_PAGES].get(invite.role)
    if page is not None:
        return await page(request, {"hub": hub, "invite": invite, "token": token})
    template = ROLE_TEMPLATES.get(invite.role, "room.html")
    return render(request, template, **page_context(request, hub, invite, token))


async def live(request: web.Request) -> web.StreamResponse:
    """``GET /c/{conference}/live``: the public page, no login."""
    try:
        hub = await request.app[HUBS].get(request.match_info["conference"])
    except DomainError as exc:
        i18n = request.app[I18N]
        detail = i18n.error_text(i18n.language_of(request), exc)
        return error_page(request, exc.status_hint, _("Not found", request), detail)
    from confsvc.http.api import PUBLIC

    return render(request, "live.html", public=PUBLIC, **page_context(request, hub, None, None))


def _(text: str, request: web.Request) -> str:
    i18n = request.app[I18N]
    return str(i18n.gettext(i18n.language_of(request), text))
