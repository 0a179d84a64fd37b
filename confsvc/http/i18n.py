"""Languages on the web: a page rendered in the request's language as an aiohttp response.

Catalogs, choosing a language and the Jinja2 environments are ``confsvc.i18n``'s (mail
and the report use them too); the names are re-exported here for the web adapter.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from confsvc.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    LOCALE_DIR,
    STATE_WORDS,
    TEMPLATE_DIR,
    I18n,
    load_translations,
    pick_language,
)
from confsvc.resources import web_dir

WEB_DIR = web_dir()

__all__ = [
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LOCALE_DIR",
    "STATE_WORDS",
    "TEMPLATE_DIR",
    "WEB_DIR",
    "I18n",
    "load_translations",
    "pick_language",
    "render",
]


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    from confsvc.http.keys import I18N

    i18n = request.app[I18N]
    lang = context.pop("lang", None) or i18n.language_of(request)
    html = i18n.render(lang, template, request_path=request.path, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
