"""Plugging the question queue into the app: the moderator console, the public event
stream, CSV import by upload, exports, posts with a photo, and the photos themselves.

Every route authorises with the invite token (``Authorization: Bearer``, ``?token=``,
which the access log redacts, or the form's first field ``token``; see confsvc/http/forms.py)
before it reads a body, and runs a core command through
the hub; none has rules of its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from confsvc.core.errors import BadRequest, DomainError, Forbidden, NotFound
from confsvc.core.events import Command, Principal
from confsvc.core.idempotency import check_key
from confsvc.core.permissions import Permission, require
from confsvc.core.questions import parse_import_csv, questions
from confsvc.core.questions.text import warm as warm_language_detector
from confsvc.core.roles import Role
from confsvc.http import features
from confsvc.http.auth import principal_for_token
from confsvc.http.features import CONFIG, HUBS
from confsvc.http.forms import Upload, header_token, read_form
from confsvc.http.i18n import render
from confsvc.http.pages import page_context
from confsvc.questions.export import export_csv, export_json
from confsvc.questions.photos import clean_post_args
from confsvc.questions.sse import FANOUT, Fanout, close_readers, live_events
from confsvc.service import Hub

MAX_UPLOAD = 4 * 1024 * 1024


def setup(app: web.Application) -> None:
    app[FANOUT] = Fanout()
    app.cleanup_ctx.append(_photo_filter_ctx)
    app.on_startup.append(_warm_language_detector)
    app.on_shutdown.append(close_readers)
    features.role_page(app, Role.MODERATOR, moderator_page)
    app.router.add_get("/c/{conference}/live/events", live_events, name="live_events")
    app.router.add_get("/c/{conference}/live/photos/{post}", photo, name="live_photo")
    app.router.add_post("/c/{conference}/questions/import", import_csv, name="questions_import")
    app.router.add_get(
        "/c/{conference}/questions/export.{fmt:csv|json}", export, name="questions_export"
    )
    app.router.add_post("/c/{conference}/posts", publish_post, name="posts")


async def _warm_language_detector(app: web.Application) -> None:
    # Lingua loads its models on first use (0.7 s here): off the event loop, at start,
    # not while the first question waits. Once per process (the detector is cached).
    await asyncio.to_thread(warm_language_detector)


async def _photo_filter_ctx(app: web.Application) -> AsyncIterator[None]:
    async def clean(args: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(clean_post_args, args)  # Pillow off the event loop

    app[HUBS].command_filters["post.publish"] = clean
    yield
    app[HUBS].command_filters.pop("post.publish", None)


async def moderator_page(request: web.Request, ctx: Any) -> web.StreamResponse:
    hub: Hub = ctx["hub"]
    context = page_context(request, hub, ctx["invite"], ctx["token"])
    return render(request, "moderator.html", **context)


def _error(exc: DomainError) -> web.Response:
    body = exc.as_dict()
    headers = {}
    if isinstance(body.get("retry_after"), (int, float)):  # unavailable: when to come back
        headers["Retry-After"] = str(math.ceil(body["retry_after"]))
    return web.json_response(body, status=exc.status_hint, headers=headers)


async def _who(request: web.Request) -> tuple[Hub, Principal]:
    hub = await request.app[HUBS].get(request.match_info["conference"])
    token = header_token(request)
    if not token:
        raise Forbidden.keyed("token.needed", how=" (Authorization: Bearer, or ?token=)")
    principal = principal_for_token(
        request.app, token, conference=hub.id, revoked=hub.state.revoked
    )
    return hub, principal


async def _form(request: web.Request) -> tuple[tuple[Hub, Principal], dict[str, str | Upload]]:
    """Authenticate (header, query or first field ``token``), then read the bounded form."""
    hub = await request.app[HUBS].get(request.match_info["conference"])

    async def authenticate(token: str) -> tuple[Hub, Principal]:
        principal = principal_for_token(
            request.app, token, conference=hub.id, revoked=hub.state.revoked
        )
        return hub, principal

    return await read_form(
        request,
        authenticate,
        max_bytes=MAX_UPLOAD,
        timeout_s=request.app[CONFIG].http_body_timeout_s,
    )


def _key(request: web.Request) -> str | None:
    """The ``Idempotency-Key`` header: the same key again returns the first answer."""
    return check_key(request.headers.get("Idempotency-Key"))


def _file_bytes(field: Any, name: str) -> bytes:
    if not isinstance(field, Upload):
        raise BadRequest.keyed("upload.missing", field=name)
    return field.data


async def import_csv(request: web.Request) -> web.Response:
    """``POST …/questions/import`` (multipart: token, file): all rows or none."""
    try:
        (hub, who), form = await _form(request)
        rows, problems = parse_import_csv(_file_bytes(form.get("file"), "file"))
        if problems:
            return web.json_response(
                {"code": "bad_request", "message": "; ".join(problems), "problems": problems},
                status=400,
            )
        args = {"rows": [r.model_dump() for r in rows]}
        events = await hub.execute(who, Command(name="q.import", args=args, key=_key(request)))
    except DomainError as exc:
        return _error(exc)
    ids = [e.data["id"] for e in events if e.type == "q.asked"]
    return web.json_response({"imported": len(ids), "ids": ids})


async def export(request: web.Request) -> web.Response:
    """``GET …/questions/export.csv|json``: staff only."""
    try:
        hub, who = await _who(request)
        require(who, Permission.STAFF, f"role {who.role.value!r} may not export questions")
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
        (hub, who), form = await _form(request)
        text = form.get("text")
        args: dict[str, Any] = {"text": text if isinstance(text, str) else ""}
        photo_field = form.get("photo")
        if isinstance(photo_field, Upload) and photo_field.filename and photo_field.data:
            # Re-encoded by the hub's post.publish filter (confsvc/questions/photos.py).
            args["photo"] = {
                "type": photo_field.content_type,
                "data": base64.b64encode(photo_field.data).decode("ascii"),
            }
        events = await hub.execute(who, Command(name="post.publish", args=args, key=_key(request)))
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
            raise NotFound.keyed("photo.missing", post=post_id)
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
