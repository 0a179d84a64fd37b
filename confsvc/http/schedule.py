"""The public schedule at pretalx's paths: ``/c/<id>/schedule.json`` (frab/pretalx JSON),
``/c/<id>/schedule.xml`` (frab XML) and ``/c/<id>/schedule.ics`` (iCalendar), each in
``?lang=`` (default: the agenda's first language). The documents themselves are
``confsvc.agenda_export``'s; this module only serves them (the security headers come
from the app's middleware)."""

from __future__ import annotations

from aiohttp import web

from confsvc.agenda_export import export
from confsvc.core.errors import BadRequest, DomainError
from confsvc.http.keys import CONFIG, HUBS

# suffix -> (export format, content type)
DOCUMENTS = {
    "json": ("frab", "application/json"),
    "xml": ("xml", "application/xml"),
    "ics": ("ics", "text/calendar"),
}


async def schedule(request: web.Request) -> web.Response:
    """``GET /c/{conference}/schedule.{json,xml,ics}[?lang=xx]``: anyone."""
    fmt, content_type = DOCUMENTS[request.match_info["fmt"]]
    try:
        hub = await request.app[HUBS].get(request.match_info["conference"])
        agenda = hub.state.require_agenda()
        lang = request.query.get("lang")
        if lang is not None and lang not in agenda.conference.languages:
            raise BadRequest(
                f"lang: {lang[:20]!r} is not one of this conference's languages "
                f"({', '.join(agenda.conference.languages)})",
                field="lang",
            )
        text = export(agenda, fmt, lang=lang, base_url=request.app[CONFIG].base_url)
    except DomainError as exc:
        return web.json_response(exc.as_dict(), status=exc.status_hint)
    return web.Response(
        text=text,
        content_type=content_type,
        charset="utf-8",
        headers={"Cache-Control": "public, max-age=60"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/c/{conference}/schedule.{fmt:json|xml|ics}", schedule, name="schedule")
