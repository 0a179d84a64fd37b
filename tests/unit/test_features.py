"""A feature's registrations (confsvc.http.features): one owner per message type and page."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from confsvc.core.roles import Role
from confsvc.http import features
from confsvc.http.keys import ROLE_PAGES, WS_CLOSE_HOOKS, WS_HANDLERS


def _app() -> web.Application:
    app = web.Application()
    app[WS_HANDLERS] = {}
    app[WS_CLOSE_HOOKS] = []
    app[ROLE_PAGES] = {}
    return app


async def first(conn: Any, body: dict[str, Any]) -> None:
    return None


async def second(conn: Any, body: dict[str, Any]) -> None:
    return None


async def page(request: web.Request, invite: Any) -> web.StreamResponse:
    return web.Response(text="page")


def test_a_message_type_has_one_handler_and_a_second_claim_names_both() -> None:
    app = _app()
    features.handle_message(app, "x.do", first)
    assert app[WS_HANDLERS]["x.do"] is first
    with pytest.raises(features.FeatureClash, match=r"'x\.do'.*test_features\.first.*second"):
        features.handle_message(app, "x.do", second)
    assert app[WS_HANDLERS]["x.do"] is first


@pytest.mark.parametrize("kind", ["hello", "command", "ping"])
def test_the_websockets_own_message_types_cannot_be_claimed(kind: str) -> None:
    with pytest.raises(features.FeatureClash, match="the WebSocket's own"):
        features.handle_message(_app(), kind, first)


def test_a_roles_page_has_one_renderer() -> None:
    app = _app()
    features.role_page(app, Role.SITE, page)
    with pytest.raises(features.FeatureClash, match="the site page"):
        features.role_page(app, Role.SITE, page)
    features.on_close(app, first)
    assert app[WS_CLOSE_HOOKS] == [first]


def test_the_assembled_app_registers_every_features_messages_and_pages() -> None:
    from confsvc.config import Config
    from confsvc.http.app import create_app

    app = create_app(Config(), secret=b"k" * 32)
    assert {"invite.create", "rtc.offer", "rtc.leave", "rtc.config"} <= set(app[WS_HANDLERS])
    assert {Role.SITE, Role.MODERATOR, Role.EXPERT} <= set(app[ROLE_PAGES])
