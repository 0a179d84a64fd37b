"""Roles and signed invite links.

An invite is a token ``<payload>.<signature>``: the payload is base64url JSON with the
conference, role, site, expiry and invite id; the signature is HMAC-SHA256 with the
server's secret. Revocation is an event in the conference log (``invite.revoked``), so
every node agrees on it. The secret itself is kept by the adapters, never here.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from confsvc.core.errors import BadRequest, Forbidden


class Role(enum.StrEnum):
    HOST = "host"
    MODERATOR = "moderator"
    SITE = "site"
    EXPERT = "expert"
    TRANSLATOR = "translator"
    INTERPRETER = "interpreter"  # speaks into one interpretation channel (``interpreter``)
    PARTICIPANT = "participant"
    PUBLIC = "public"
    SYSTEM = "system"


INVITE_ROLES = (
    Role.HOST,
    Role.MODERATOR,
    Role.SITE,
    Role.EXPERT,
    Role.TRANSLATOR,
    Role.INTERPRETER,
    Role.PARTICIPANT,
)
STAFF = frozenset({Role.HOST, Role.MODERATOR})
DEFAULT_TTL_S = 14 * 24 * 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class Invite:
    conference: str
    role: Role
    site: str | None
    expires: int
    id: str
    name: str | None = None
    expert: str | None = None
    languages: tuple[str, ...] = ()  # a translator's: the languages they read and write
    interpreter: str | None = None  # the agenda's interpreter id, for interpreter links


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()[:20])


def issue_invite(
    secret: bytes,
    *,
    conference: str,
    role: Role,
    now: float,
    site: str | None = None,
    expert: str | None = None,
    name: str | None = None,
    languages: tuple[str, ...] = (),
    interpreter: str | None = None,
    ttl_s: int = DEFAULT_TTL_S,
    invite_id: str | None = None,
) -> tuple[Invite, str]:
    """Make an invite and its token. ``site`` is required for, and only for, ``Role.SITE``;
    ``languages`` goes only with ``Role.TRANSLATOR`` (none: the translator reads them all)."""
    if role not in INVITE_ROLES:
        raise BadRequest.keyed("invite.role", role=role.value, field="role")
    if (role is Role.SITE) != (site is not None):
        raise BadRequest.keyed("invite.site")
    if (role is Role.INTERPRETER) != (interpreter is not None):
        raise BadRequest.keyed("invite.interpreter", field="interpreter")
    if languages and role is not Role.TRANSLATOR:
        raise BadRequest.keyed("invite.languages", field="languages")
    if ttl_s <= 0:
        raise BadRequest.keyed("invite.ttl", field="ttl")
    invite = Invite(
        conference=conference,
        role=role,
        site=site,
        expert=expert,
        name=name,
        languages=tuple(languages),
        interpreter=interpreter,
        expires=int(now) + ttl_s,
        id=invite_id or secrets.token_hex(6),
    )
    body: dict[str, object] = {
        "c": invite.conference,
        "r": invite.role.value,
        "e": invite.expires,
        "i": invite.id,
    }
    if site is not None:
        body["s"] = site
    if expert is not None:
        body["x"] = expert
    if name is not None:
        body["n"] = name
    if interpreter is not None:
        body["ip"] = interpreter
    if languages:
        body["l"] = list(languages)
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return invite, f"{payload}.{_sign(secret, payload)}"


class InviteError(Forbidden):
    code = "bad_invite"


def verify_invite(secret: bytes, token: str, *, now: float) -> Invite:
    """Check signature and expiry (not revocation: that is in the conference state)."""
    if (
        not isinstance(token, str)
        or len(token) > 2048
        or not token.isascii()  # tokens are base64url: anything else cannot be signed
        or token.count(".") != 1
    ):
        raise InviteError.keyed("link.not_invite")
    payload, signature = token.split(".")
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise InviteError.keyed("link.signature")
    try:
        body = json.loads(_unb64(payload))
        invite = Invite(
            conference=str(body["c"]),
            role=Role(body["r"]),
            site=body.get("s"),
            expert=body.get("x"),
            name=body.get("n"),
            languages=tuple(str(x) for x in body.get("l", ())),
            interpreter=body.get("ip"),
            expires=int(body["e"]),
            id=str(body["i"]),
        )
    except (ValueError, KeyError, TypeError):
        raise InviteError.keyed("link.not_invite") from None
    if invite.expires < now:
        raise InviteError.keyed("link.expired")
    return invite
