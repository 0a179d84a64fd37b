"""Turning an invite token into a principal, for pages and WebSockets."""

from __future__ import annotations

from aiohttp import web

from confsvc.core.events import Principal
from confsvc.core.roles import Invite, InviteError, verify_invite
from confsvc.http.keys import CLOCK, HUBS, SECRET
from confsvc.service import Hub


def check_invite(
    app: web.Application, token: str, *, conference: str | None, revoked: set[str]
) -> Invite:
    """Verify signature, expiry, conference and revocation; ``InviteError`` says which failed."""
    invite = verify_invite(app[SECRET], token, now=app[CLOCK]())
    if conference is not None and invite.conference != conference:
        raise InviteError.keyed("link.other_conference")
    if invite.id in revoked:
        raise InviteError.keyed("link.revoked")
    return invite


async def open_invite(
    app: web.Application, token: str, *, conference: str | None = None
) -> tuple[Hub, Invite]:
    """For pages: verify the token once, load its conference, check revocation.

    ``conference``, when given, is the one the URL names; the token must be for it.
    """
    invite = verify_invite(app[SECRET], token, now=app[CLOCK]())
    if conference is not None and invite.conference != conference:
        raise InviteError.keyed("link.other_conference")
    hub = await app[HUBS].get(invite.conference)
    if invite.id in hub.state.revoked:
        raise InviteError.keyed("link.revoked")
    return hub, invite


def principal_of(invite: Invite) -> Principal:
    return Principal(
        role=invite.role,
        invite=invite.id,
        site=invite.site,
        name=invite.name,
        expert=invite.expert,
        languages=invite.languages,
        interpreter=invite.interpreter,
    )


def principal_for_token(
    app: web.Application, token: str, *, conference: str, revoked: set[str]
) -> Principal:
    return principal_of(check_invite(app, token, conference=conference, revoked=revoked))
