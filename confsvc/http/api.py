"""JSON API: health, conference state for the public, the OpenAPI description."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from confsvc.core.errors import DomainError
from confsvc.core.events import Principal
from confsvc.core.roles import Role
from confsvc.http.keys import HUBS

PUBLIC = Principal(role=Role.PUBLIC, invite="public")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def conference_state(request: web.Request) -> web.Response:
    try:
        hub = await request.app[HUBS].get(request.match_info["conference"])
    except DomainError as exc:
        return web.json_response(exc.as_dict(), status=exc.status_hint)
    return web.json_response(
        {"conference": hub.id, "seq": hub.state.seq, "views": hub.snapshot(PUBLIC)}
    )


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "confsvc", "version": "0.1.0"},
        "paths": {
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}
            },
            "/api/v1/conferences/{conference}/state": {
                "get": {
                    "summary": "The public view of a conference",
                    "parameters": [
                        {
                            "name": "conference",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {"description": "views"},
                        "404": {"description": "no such conference"},
                    },
                }
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(spec())
