"""Plugging mail into the web app: the service's lifetime, the dashboard and expert pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from confsvc.core.roles import Role
from confsvc.http import features
from confsvc.http.features import CONFIG, HUBS, I18N, SECRET
from confsvc.mail import pages
from confsvc.mail.service import MailService

MAIL = web.AppKey("mail", MailService)


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_mail_ctx)
    app.router.add_get("/c/{conference}/written", pages.written_page, name="written")
    app.router.add_get("/c/{conference}/written/mail", pages.mail_status, name="written-mail")
    features.role_page(app, Role.EXPERT, pages.expert_page)


async def demo_links(
    app: web.Application, base_url: str, links: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``confsvc demo`` also lists the written-answers dashboard, with the moderator's
    token (listed in ``confsvc.assembly.demo_links``)."""
    moderator = dict(links).get("moderator")
    hubs = app[HUBS].loaded()
    if moderator and "/j/" in moderator and hubs:
        token = moderator.rsplit("/j/", 1)[1]
        return [("written", f"{base_url}/c/{hubs[0].id}/written?t={token}")]
    return []


async def _mail_ctx(app: web.Application) -> AsyncIterator[None]:
    service = MailService(app[HUBS], app[CONFIG], secret=app[SECRET], i18n=app[I18N])
    app[MAIL] = service
    await service.start()
    try:
        yield
    finally:
        await service.close()
