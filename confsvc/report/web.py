"""Report pages: ``/c/<conference>/report`` (public) and ``/j/<token>/report`` (organiser:
host or moderator), each in the viewer's language, as HTML or ``?format=json|csv|md``."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from confsvc.core.errors import DomainError
from confsvc.core.permissions import Permission, require
from confsvc.http.auth import open_invite
from confsvc.http.features import CONFIG, HUBS, I18N
from confsvc.http.pages import error_page
from confsvc.http.security import content_security_policy
from confsvc.report import FORMATS, build, render, render_html

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv",
    "md": "text/markdown",
    "html": "text/html",
}


async def _respond(
    request: web.Request, conference: str, *, public: bool, token: str | None = None
) -> web.StreamResponse:
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
        text = render_html(i18n, data, lang, served=True, program_url=_program_url(request, token))
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


def _program_url(request: web.Request, token: str | None) -> Any:
    """Links into the program for an organiser on a server that records (else none)."""
    cfg = request.app[CONFIG]
    if token is None or cfg.recordings is None:
        return None
    base = cfg.base_path

    def url(at: dict[str, Any]) -> str:
        s = at["s"]
        return f"{base}/j/{token}/recordings/program/{at['take']}?s={s:g}#t={s:g}"

    return url


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
        return await _respond(request, hub.id, public=False, token=token)
    except DomainError as exc:
        return error_page(request, exc.status_hint, title, exc.message)


def setup(app: web.Application) -> None:
    app.router.add_get("/c/{conference}/report", public_report, name="report")
    app.router.add_get("/j/{token}/report", organiser_report, name="organiser_report")
