"""The recording's web side: the recorders' lifetime, the organiser's recordings page,
signed downloads and the press kit.

- ``/j/<token>/recordings``: the organiser's page (``Permission.RECORD``): every file of
  every take with its size and a signed link (valid ``files.LINK_TTL_S``), the program's
  chapters, the press kit;
- ``/c/<conference>/recordings/<name>?exp=…&sig=…``: one file, by its signed link (range
  requests work: a player seeks in it);
- ``/j/<token>/recordings/presskit.zip``: the public report, each take's program and
  chapters, and the live page's photos, as one zip (stored, not deflated: video does
  not compress), built in a thread into the recordings directory and removed after.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import logging
import os
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from confsvc.core.errors import DomainError, NotFound
from confsvc.core.permissions import Permission, require
from confsvc.core.questions import questions
from confsvc.core.recording import media_s, recording
from confsvc.core.recording import view as recording_view
from confsvc.http.auth import open_invite
from confsvc.http.features import CONFIG, HUBS, I18N, SECRET
from confsvc.http.i18n import render
from confsvc.http.pages import error_page
from confsvc.media.setup import RELAY
from confsvc.recording.files import (
    RecordingFile,
    check_signature,
    find,
    list_files,
    signed_query,
)
from confsvc.recording.service import Recordings
from confsvc.report import build, render_html

log = logging.getLogger(__name__)

RECORDINGS = web.AppKey("recordings", Recordings)
PHOTO_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def setup(app: web.Application) -> None:
    app.router.add_get("/j/{token}/recordings", recordings_page, name="recordings")
    app.router.add_get("/j/{token}/recordings/presskit.zip", press_kit, name="press_kit")
    app.router.add_get(
        "/j/{token}/recordings/program/{take}", program_moment, name="recording_program"
    )
    app.router.add_get("/c/{conference}/recordings/{name}", download, name="recording_file")
    app.cleanup_ctx.append(_recordings_ctx)


async def _recordings_ctx(app: web.Application) -> AsyncIterator[None]:
    root = app[CONFIG].recordings
    if root is None:
        yield
        return
    recordings = Recordings(app[RELAY], root)
    app[RECORDINGS] = recordings
    hubs = app[HUBS]
    hubs.event_hooks.append(recordings.on_events)
    for hub in hubs.loaded():  # conferences loaded before this feature started
        recordings.on_events(hub, [])
    try:
        yield
    finally:
        if recordings.on_events in hubs.event_hooks:
            hubs.event_hooks.remove(recordings.on_events)
        await recordings.close()


def _root(app: web.Application) -> Path | None:
    root: Path | None = app[CONFIG].recordings
    return root


async def _organiser(request: web.Request) -> Any:
    hub, invite = await open_invite(request.app, request.match_info["token"])
    require(invite, Permission.RECORD, "the recordings are for the host")
    return hub


def _refused(request: web.Request, exc: DomainError) -> web.StreamResponse:
    i18n = request.app[I18N]
    title = i18n.gettext(i18n.language_of(request), "This link does not work")
    return error_page(request, exc.status_hint, title, exc.message)


def _utc(ts: float | None) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def recordings_page(request: web.Request) -> web.StreamResponse:
    try:
        hub = await _organiser(request)
    except DomainError as exc:
        return _refused(request, exc)
    root = _root(request.app)
    now = time.time()
    secret = request.app[SECRET]
    base = request.app[CONFIG].base_path
    files = []
    for f in list_files(root, hub.id) if root is not None else []:
        link = f"{base}/c/{hub.id}/recordings/{f.name}?{signed_query(secret, hub.id, f.name, now)}"
        files.append({**f.as_dict(), "url": link})
    view = recording_view(hub.state)
    for take in view["takes"]:
        take["started"] = _utc(take["started_at"])
        take["stopped"] = _utc(take["stopped_at"])
    response = render(
        request,
        "recordings.html",
        conference=hub.id,
        agenda=hub.state.require_agenda(),
        recording=view,
        # A page without a live connection: the REC notice is rendered here (base.html).
        rec_notice=view["status"] in ("recording", "paused"),
        files=files,
        enabled=root is not None,
        token=request.match_info["token"],
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def program_part(
    state: Any, files: list[RecordingFile], take: int, s: float
) -> tuple[RecordingFile, float] | None:
    """The program file of ``take`` that holds second ``s`` of its media, and where."""
    takes = recording(state).takes
    if not 1 <= take <= len(takes):
        return None
    parts = [f for f in files if f.take == take and f.source == "program" and f.kind == "webm"]
    best = None
    for f in parts:  # oldest first: the last part that began before that moment
        offset = media_s(takes[take - 1], f.started_at)
        if offset <= s + 1.0 or best is None:
            best = (f, max(0.0, s - offset))
    return best


async def program_moment(request: web.Request) -> web.StreamResponse:
    """The report's link to a moment of the program: to its file's signed link, at ``#t=``."""
    try:
        hub = await _organiser(request)
    except DomainError as exc:
        return _refused(request, exc)
    root = _root(request.app)
    try:
        take, s = int(request.match_info["take"]), float(request.query.get("s", "0"))
    except ValueError:
        return _refused(request, NotFound("no such moment of the program"))
    found = program_part(hub.state, list_files(root, hub.id), take, s) if root else None
    if found is None:
        return _refused(request, NotFound(f"take {take} has no program file"))
    f, at = found
    query = signed_query(request.app[SECRET], hub.id, f.name, time.time())
    base = request.app[CONFIG].base_path
    raise web.HTTPFound(f"{base}/c/{hub.id}/recordings/{f.name}?{query}#t={at:.3f}")


async def download(request: web.Request) -> web.StreamResponse:
    conference, name = request.match_info["conference"], request.match_info["name"]
    root = _root(request.app)
    problem = check_signature(
        request.app[SECRET],
        conference,
        name,
        request.query.get("exp", ""),
        request.query.get("sig", ""),
        time.time(),
    )
    if problem is not None:
        return _refused(request, NotFound(problem))
    path = find(root, conference, name) if root is not None else None
    if path is None:
        return _refused(request, NotFound(f"no recording file {name!r}"))
    types = {".webm": "video/webm", ".vtt": "text/vtt", ".json": "application/json"}
    response = web.FileResponse(path, headers={"Content-Type": types[path.suffix]})
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = f'inline; filename="{conference}-{name}"'
    return response


def _photos(state: Any) -> list[tuple[str, bytes]]:
    out = []
    for n, post in enumerate(questions(state).posts, 1):
        ext = PHOTO_EXT.get(post.photo_type or "")
        if ext is None or not post.photo:
            continue
        try:
            out.append((f"photos/{n:03}-{post.id}.{ext}", base64.b64decode(post.photo)))
        except (binascii.Error, ValueError):
            continue
    return out


def build_press_kit(
    target: Path, report_html: str, report_json: str, program: list[Path], photos: list[Any]
) -> None:
    """Write the zip (in a thread: it copies the program files)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("report.html", report_html)
        z.writestr("report.json", report_json)
        for path in program:
            z.write(path, f"program/{path.name}")
        for name, data in photos:
            z.writestr(name, data)


async def press_kit(request: web.Request) -> web.StreamResponse:
    try:
        hub = await _organiser(request)
    except DomainError as exc:
        return _refused(request, exc)
    root = _root(request.app)
    i18n = request.app[I18N]
    lang = i18n.language_of(request)
    data = build(hub.state, time.time(), public=True)
    files = list_files(root, hub.id) if root is not None else []

    def in_kit(at: dict[str, Any]) -> str | None:
        found = program_part(hub.state, files, int(at["take"]), float(at["s"]))
        return None if found is None else f"program/{found[0].name}#t={found[1]:.3f}"

    html = render_html(i18n, data, lang, program_url=in_kit)
    program = []
    if root is not None:
        program = [
            root / hub.id / f.name
            for f in files
            if f.source == "program" and f.kind in ("webm", "vtt")
        ]
    scratch = Path(root / hub.id) if root is not None else Path(tempfile.gettempdir())
    scratch.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".presskit-", suffix=".zip", dir=scratch)
    os.close(fd)
    target = Path(name)
    try:
        report_json = json.dumps(data, ensure_ascii=False, indent=1)
        await asyncio.to_thread(
            build_press_kit, target, html, report_json, program, _photos(hub.state)
        )
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="{hub.id}-press-kit.zip"',
                "Cache-Control": "no-store",
                "Content-Length": str(target.stat().st_size),
            }
        )
        fh = await asyncio.to_thread(target.open, "rb")
    finally:
        target.unlink(missing_ok=True)  # the open handle keeps the bytes until it closes
    try:
        await response.prepare(request)
        while chunk := await asyncio.to_thread(fh.read, 1 << 20):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        fh.close()
