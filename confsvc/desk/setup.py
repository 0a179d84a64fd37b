"""Plugging the translation desk into the web app: the page a translator's link opens.

The desk's rules (what needs translating, ``q.translate``, who may translate what) are
the core's (``confsvc.core.questions.desk``, ``confsvc.core.permissions``); the page reads
the desk from the conference WebSocket's snapshot and sends ``q.translate`` commands.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from confsvc.core.roles import Role
from confsvc.http import features
from confsvc.http.i18n import render
from confsvc.http.pages import page_context


def setup(app: web.Application) -> None:
    features.role_page(app, Role.TRANSLATOR, translator_page)


async def translator_page(request: web.Request, info: Any) -> web.StreamResponse:
    """The page a translator's invite link opens: the questions (and written answers)
    waiting for a translation in the languages the link reads."""
    hub, invite, token = info["hub"], info["invite"], info["token"]
    ctx = page_context(request, hub, invite, token)
    ctx["boot"]["languages"] = list(invite.languages)
    return render(request, "translator.html", **ctx)
