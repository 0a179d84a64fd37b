"""Report pages: ``/c/<conference>/report`` (public) and ``/j/<token>/report`` (organiser:
host or moderator), each in the viewer's language, as HTML or ``?format=json|csv|md``."""

from __future__ import annotations

import time

from aiohttp import web

from confsvc.core.errors import DomainError
from confsvc.core.permissions import Permission, require
from confsvc.http.auth import open_invite
from confsvc.http.keys import CONFIG, HUBS, I18N
from confsvc.http.pages import error_page
from confsvc.http.security import content_security_policy
from confsvc.report import FORMATS, build, render, render_html

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "md": "text/markdown",
    "html": "text/html",
}


async def _respond(request: web.Request, conference: str, *, public: bool) -> web.StreamResponse:
    hub = await request.app[HUBS].get(conference)
    i18n = request.app[I18N]
    lang = i18n.language_of(request)
    fmt = request.query.get("format", "html")
    if fmt not in FORMATS:
        return web.Response(
            status=400, text=f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}\n"
        )
    data = build(hub.state, time.time(), public=public)
    if fmt == "html":
        text = render_html(i18n, data, lang, served=True)
    else:
        text = render(i18n, data, fmt, lang)
    response = web.Response(text=text, content_type=CONTENT_TYPES[fmt], charset="utf-8")
    if fmt != "html":
        response.headers["Content-Disposition"] = f'attachment; filename="{hub.id}-report.{fmt}"'
    else:  # one self-contained file: its own <style> and inline SVG, still no script
        response.headers["Content-Security-Policy"] = content_security_policy(
            request.app[CONFIG], inline_styles=True
        )
    response.headers["Cache-Control"] = "no-store"
    return response


async def public_report(request: web.Request) -> web.StreamResponse:
    try:
        return await _respond(request, request.match_info["conference"], public=True)
    except DomainError as exc:
        return error_page(
            request,
            exc.status_hint,
            request.app[I18N].gettext(request.app[I18N].language_of(request), "Not found"),
            exc.message,
        )


async def organiser_report(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"]
    i18n = request.app[I18N]
    title = i18n.gettext(i18n.language_of(request), "This link does not work")
    try:
        hub, invite = await open_invite(request.app, token)
        require(invite, Permission.STAFF, "the organiser's report is for hosts and moderators")
        return await _respond(request, hub.id, public=False)
    except DomainError as exc:
        return error_page(request, exc.status_hint, title, exc.message)


def setup(app: web.Application) -> None:
    app.router.add_get("/c/{conference}/report", public_report, name="report")
    app.router.add_get("/j/{token}/report", organiser_report, name="organiser_report")
