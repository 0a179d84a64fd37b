"""The person behind a WebSocket on a shared audience link: the ``person`` of ``hello``.

The rule (which links are shared, what a person token is and who signs it) is
``confsvc.core.audience``; this is its transport. A browser on a shared link sends the
person token it keeps (``web/static/js/conn.js``, in ``localStorage``) in ``hello``; a
browser that has none gets a new person, and its token comes back in ``welcome``
(``you.person_token``), to its own connection only. The token travels in WebSocket
messages and in the fragment of the "continue on another device" link, never in a URL
a server sees, so no access log can hold it; no log line here names it either.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from confsvc.core.audience import as_person, new_person, person_token, shared, verify_person
from confsvc.core.events import Principal
from confsvc.core.roles import Invite
from confsvc.http.keys import SECRET


def person_for_hello(
    app: web.Application, invite: Invite, principal: Principal, sent: object
) -> Principal:
    """The principal for a hello on ``invite``: on a shared audience link one of its
    people, the one ``sent`` (the hello's ``person`` field) names or a new one; on a
    personal link, which is one person already, the link's own.

    A token sent on a personal link is refused like a foreign one: it was not made for it.
    """
    if sent is None and not shared(invite):
        return principal
    person = new_person(invite) if sent is None else verify_person(app[SECRET], invite, sent)
    return as_person(principal, person)


def welcome_fields(app: web.Application, conference: str, principal: Principal) -> dict[str, Any]:
    """What ``welcome.you`` says of the person: ``person`` and ``person_token`` (null on a
    personal link). Sent to the person's own connection only."""
    if principal.person is None:
        return {"person": None, "person_token": None}
    token = person_token(app[SECRET], conference, principal.invite, principal.person)
    return {"person": principal.person, "person_token": token}
