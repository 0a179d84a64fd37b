"""Who holds a shared audience link: one person per browser, signed by the server.

A participant link issued without a name is a *shared audience link* (the one printed on
the room's screen or sent to a mailing list): everyone who opens it is a participant,
and each browser is a person of its own, so votes, "my questions", rejection reasons
and rate limits are per person (``Principal.identity``). Every other link is *personal*
(a named participant's, a site's, a moderator's…): its holder is one person already,
the invite, as before.

A person is a random id the server picks on the browser's first ``hello`` and signs
into a *person token* ``<invite>.<person>.<signature>``: HMAC-SHA256, with the server's
secret, of ``person|<conference>|<invite>|<person>``. (An invite's signature covers a
base64url payload, which never holds ``|``, so one can never stand for the other.) The
browser keeps the token and sends it in every later ``hello``; opened with the
"continue on another device" link, which carries it, a second device is the same person.
A token does not expire by itself: it lives as long as its link, whose expiry and
revocation end every person on it.

Not for: the invite's own signature, expiry and revocation (``confsvc.core.roles``,
``ConferenceState.revoked``) nor keeping the token (``web/static/js/conn.js``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace

from confsvc.core.errors import Forbidden
from confsvc.core.events import Principal
from confsvc.core.roles import Invite, Role

PERSON_ID_HEX = 16  # 64 random bits: people on one link never collide
MAX_TOKEN_CHARS = 200


class PersonError(Forbidden):
    """A person token that is not this link's, or not the server's."""

    code = "bad_person"


def shared(invite: Invite) -> bool:
    """Is ``invite`` a shared audience link (a participant link without a name)?"""
    return invite.role is Role.PARTICIPANT and invite.name is None


def _signature(secret: bytes, conference: str, invite_id: str, person: str) -> str:
    message = f"person|{conference}|{invite_id}|{person}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:40]


def person_token(secret: bytes, conference: str, invite_id: str, person: str) -> str:
    """The token of ``person`` on the link ``invite_id`` (the same every time it is made)."""
    return f"{invite_id}.{person}.{_signature(secret, conference, invite_id, person)}"


def new_person(invite: Invite) -> str:
    """A new person on the shared link ``invite`` (its token: ``person_token``)."""
    if not shared(invite):
        raise PersonError.keyed("person.personal", field="person")
    return secrets.token_hex(PERSON_ID_HEX // 2)


def verify_person(secret: bytes, invite: Invite, token: object) -> str:
    """The person a token names on ``invite``, or ``PersonError`` saying what is wrong."""
    if not shared(invite):
        raise PersonError.keyed("person.personal", field="person")
    if (
        not isinstance(token, str)
        or len(token) > MAX_TOKEN_CHARS
        or not token.isascii()
        or token.count(".") != 2
    ):
        raise PersonError.keyed("person.not_token", field="person")
    invite_id, person, signature = token.split(".")
    if invite_id != invite.id:
        raise PersonError.keyed("person.other_link", field="person")
    expected = _signature(secret, invite.conference, invite.id, person)
    if not (person.isalnum() and hmac.compare_digest(expected, signature)):
        raise PersonError.keyed("person.signature", field="person")
    return person


def as_person(principal: Principal, person: str) -> Principal:
    """The link's principal as one of its people (same role and powers, own identity)."""
    return replace(principal, person=person)
