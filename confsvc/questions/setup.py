"""Plugging the question queue into the app: the moderator console, the public event
stream, CSV import by upload, exports, posts with a photo, and the photos themselves.

Every route authorises with the invite token (form field ``token``, ``Authorization:
Bearer`` or ``?token=``, which the access log redacts) and runs a core command through
the hub; none has rules of its own.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from confsvc.core.errors import BadRequest, DomainError, Forbidden, NotFound
from confsvc.core.events import Command, Principal
from confsvc.core.questions import parse_import_csv, questions
from confsvc.core.roles import STAFF, Role
from confsvc.http.auth import principal_for_token
from confsvc.http.i18n import render
from confsvc.http.keys import HUBS, ROLE_PAGES
from confsvc.http.pages import page_context
from confsvc.questions.export import export_csv, export_json
from confsvc.questions.sse import FANOUT, Fanout, close_readers, live_events
from confsvc.service import Hub

MAX_UPLOAD = 4 * 1024 * 1024


def setup(app: web.Application) -> None:
    app[FANOUT] = Fanout()
    app.on_shutdown.append(close_readers)
    app[ROLE_PAGES][Role.MODERATOR] = moderator_page
    app.router.add_get("/c/{conference}/live/events", live_events, name="live_events")
    app.router.add_get("/c/{conference}/live/photos/{post}", photo, name="live_photo")
    app.router.add_post("/c/{conference}/questions/import", import_csv, name="questions_import")
    app.router.add_get(
        "/c/{conference}/questions/export.{fmt:csv|json}", export, name="questions_export"
    )
    app.router.add_post("/c/{conference}/posts", publish_post, name="posts")


async def moderator_page(request: web.Request, ctx: Any) -> web.StreamResponse:
    hub: Hub = ctx["hub"]
    context = page_context(request, hub, ctx["invite"], ctx["token"])
    return render(request, "moderator.html", **context)


def _error(exc: DomainError) -> web.Response:
    return web.json_response(exc.as_dict(), status=exc.status_hint)


async def _who(request: web.Request, form: Any = None) -> tuple[Hub, Principal]:
    hub = await request.app[HUBS].get(request.match_info["conference"])
    token = None
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        token = auth[len("Bearer ") :].strip()
    elif form is not None and isinstance(form.get("token"), str):
        token = form["token"]
    else:
        token = request.query.get("token")
    if not token:
        raise Forbidden("this needs an invite token (field token)")
    principal = principal_for_token(
        request.app, token, conference=hub.id, revoked=hub.state.revoked
    )
    return hub, principal


async def _form(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_UPLOAD:
        raise BadRequest(f"the upload is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("send the form as multipart/form-data")
    return await request.post()


def _file_bytes(field: Any, name: str) -> bytes:
    if not isinstance(field, web.FileField):
        raise BadRequest(f"missing file field {name!r}", field=name)
    data = field.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise BadRequest(f"{name}: the file is larger than {MAX_UPLOAD // (1024 * 1024)} MiB")
    return bytes(data)


async def import_csv(request: web.Request) -> web.Response:
    """``POST …/questions/import`` (multipart: token, file): all rows or none."""
    try:
        form = await _form(request)
        hub, who = await _who(request, form)
        rows, problems = parse_import_csv(_file_bytes(form.get("file"), "file"))
        if problems:
            return web.json_response(
                {"code": "bad_request", "message": "; ".join(problems), "problems": problems},
                status=400,
            )
        args = {"rows": [r.model_dump() for r in rows]}
        events = await hub.execute(who, Command(name="q.import", args=args))
    except DomainError as exc:
        return _error(exc)
    ids = [e.data["id"] for e in events if e.type == "q.asked"]
    return web.json_response({"imported": len(ids), "ids": ids})


async def export(request: web.Request) -> web.Response:
    """``GET …/questions/export.csv|json``: staff only."""
    try:
        hub, who = await _who(request)
        if who.role not in STAFF:
            raise Forbidden(f"role {who.role.value!r} may not export questions")
    except DomainError as exc:
        return _error(exc)
    name = f"{hub.id}-questions"
    if request.match_info["fmt"] == "json":
        return web.json_response(
            export_json(hub.state),
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )
    return web.Response(
        text=export_csv(hub.state),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


async def publish_post(request: web.Request) -> web.Response:
    """``POST …/posts`` (multipart: token, text, optional photo file): a live text post."""
    try:
        form = await _form(request)
        hub, who = await _who(request, form)
        args: dict[str, Any] = {"text": str(form.get("text") or "")}
        photo_field = form.get("photo")
        if isinstance(photo_field, web.FileField) and photo_field.filename:
            raw = _file_bytes(photo_field, "photo")
            if raw:
                args["photo"] = {
                    "type": photo_field.content_type,
                    "data": base64.b64encode(raw).decode("ascii"),
                }
        events = await hub.execute(who, Command(name="post.publish", args=args))
    except DomainError as exc:
        return _error(exc)
    return web.json_response({"id": events[-1].data["id"]})


async def photo(request: web.Request) -> web.Response:
    """``GET …/live/photos/{post}``: a post's photo (posts are public)."""
    try:
        hub = await request.app[HUBS].get(request.match_info["conference"])
        post_id = request.match_info["post"]
        post = next((p for p in questions(hub.state).posts if p.id == post_id), None)
        if post is None or post.photo is None or post.photo_type is None:
            raise NotFound(f"no photo for post {post_id!r}")
        body = base64.b64decode(post.photo)
    except (DomainError, binascii.Error) as exc:
        if isinstance(exc, DomainError):
            return _error(exc)
        raise
    return web.Response(
        body=body,
        content_type=post.photo_type,
        headers={
            "Cache-Control": "public, max-age=86400, immutable",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
