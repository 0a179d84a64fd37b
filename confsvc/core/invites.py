"""The record of invite links: which were issued (never the token itself) and revoked.

Who may issue which link is decided here, once: ``check_issue`` before a token is signed,
then the ``invite.record`` command that records it. The token is signed by the adapter
that holds the secret, through the one path ``Hub.issue_invite`` (the host console,
``confsvc invite`` and the demo's links), which returns a link only once it is recorded,
so the host sees every link and can revoke it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from pydantic import Field

from confsvc.core.conference import (
    MAX_TIMESTAMP,
    Args,
    Audience,
    CommandSpec,
    ConferenceState,
    Message,
    Part,
    stored_time,
)
from confsvc.core.errors import BadRequest, InvalidState
from confsvc.core.events import Event, NewEvent, Principal
from confsvc.core.permissions import Permission, may, require
from confsvc.core.roles import DEFAULT_TTL_S, INVITE_ROLES, Invite, Role
from confsvc.core.translation import desk_languages


@dataclass(slots=True, kw_only=True)
class InviteRecord:
    id: str
    role: str
    site: str | None
    expires: int
    issued_at: float
    issued_by: str
    name: str | None = None
    interpreter: str | None = None
    languages: list[str] = field(default_factory=list)  # a translator's
    revoked_at: float | None = None


def invites(state: ConferenceState) -> dict[str, InviteRecord]:
    return cast(dict[str, InviteRecord], state.parts["invites"])


class RecordArgs(Args):
    id: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    role: str = Field(max_length=32)
    site: str | None = Field(default=None, max_length=64)
    expires: int = Field(gt=0, le=int(MAX_TIMESTAMP))
    name: str | None = Field(default=None, max_length=200)
    interpreter: str | None = Field(default=None, max_length=64)
    languages: list[Annotated[str, Field(max_length=16)]] = Field(
        default_factory=list, max_length=16
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class InviteRequest:
    """A link somebody asks for, before it is signed (``Hub.issue_invite``)."""

    role: Role
    site: str | None = None
    expert: str | None = None
    name: str | None = None
    interpreter: str | None = None
    languages: tuple[str, ...] = ()  # a translator's (none: every language)
    ttl_s: int = DEFAULT_TTL_S


def check_issue(state: ConferenceState, who: Principal, request: InviteRequest) -> None:
    """Refuse a link ``who`` may not issue or the agenda cannot hold; else return."""
    require(who, Permission.INVITE, f"role {who.role.value!r} may not create invites")
    _check_link(state, request.role.value, request.site)
    _check_interpreter(state, request.role.value, request.interpreter)
    _check_languages(state, request.role.value, list(request.languages))
    if request.ttl_s <= 0:
        raise BadRequest.keyed("invite.ttl", field="ttl")


def _check_link(state: ConferenceState, role: str, site: str | None) -> None:
    if role not in {r.value for r in INVITE_ROLES}:
        raise BadRequest.keyed("invite.role", role=role, field="args.role")
    if (role == Role.SITE.value) != (site is not None):
        raise BadRequest.keyed("invite.site", field="args.site")
    if site is not None and state.require_agenda().site(site) is None:
        raise BadRequest.keyed("site.unknown_plain", site=site, field="args.site")


def _check_interpreter(state: ConferenceState, role: str, interpreter: str | None) -> None:
    """An interpreter link names one of the agenda's interpreters; no other link names one."""
    if (role == Role.INTERPRETER.value) != (interpreter is not None):
        raise BadRequest.keyed("invite.interpreter", field="args.interpreter")
    if interpreter is None:
        return
    interpretation = state.require_agenda().interpretation
    if interpretation is None:
        raise BadRequest.keyed("invite.no_interpretation", field="args.interpreter")
    if interpretation.interpreter(interpreter) is None:
        known = ", ".join(i.id for i in interpretation.interpreters) or "none"
        raise BadRequest.keyed(
            "invite.no_interpreter", interpreter=interpreter, known=known, field="args.interpreter"
        )


def _check_languages(state: ConferenceState, role: str, languages: list[str]) -> None:
    """A translator link may name the languages its holder reads: the desk's languages."""
    if not languages:
        return
    if role != Role.TRANSLATOR.value:
        raise BadRequest.keyed("invite.languages", field="args.languages")
    known = desk_languages(state.require_agenda())
    for language in languages:
        if language not in known:
            raise BadRequest.keyed(
                "invite.language",
                language=language,
                languages=", ".join(known),
                field="args.languages",
            )


def record_args(invite: Invite) -> dict[str, Any]:
    """The ``invite.record`` arguments for a signed invite (everything but the token)."""
    return {
        "id": invite.id,
        "role": invite.role.value,
        "site": invite.site,
        "expires": invite.expires,
        "name": invite.name,
        "interpreter": invite.interpreter,
        "languages": list(invite.languages),
    }


def _record(state: ConferenceState, args: RecordArgs, who: Principal, now: float) -> list[NewEvent]:
    _check_link(state, args.role, args.site)
    _check_interpreter(state, args.role, args.interpreter)
    _check_languages(state, args.role, args.languages)
    if args.id in invites(state):
        raise InvalidState.keyed("invite.recorded", invite=args.id)
    data = args.model_dump()
    # Only an interpreter's or a translator's link names these: other invites are stored
    # as they were before those roles existed.
    if data["interpreter"] is None:
        del data["interpreter"]
    if not data["languages"]:
        del data["languages"]
    return [NewEvent(type="invite.issued", data=data)]


def _on_issued(state: ConferenceState, event: Event) -> None:
    d = event.data
    invites(state)[d["id"]] = InviteRecord(
        id=d["id"],
        role=d["role"],
        site=d.get("site"),
        expires=int(stored_time(d.get("expires")) or 0),
        name=d.get("name"),
        interpreter=d.get("interpreter"),
        languages=list(d.get("languages") or []),
        issued_at=event.at,
        issued_by=event.actor,
    )


def _on_revoked(state: ConferenceState, event: Event) -> None:
    record = invites(state).get(event.data["invite"])
    if record is not None:
        record.revoked_at = event.at


def view(state: ConferenceState) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "role": r.role,
            "site": r.site,
            "name": r.name,
            "interpreter": r.interpreter,
            "languages": r.languages,
            "expires": r.expires,
            "issued_at": r.issued_at,
            "revoked": r.revoked_at is not None,
        }
        for r in sorted(invites(state).values(), key=lambda r: r.issued_at)
    ]


HOSTS = Audience(roles=frozenset({Role.HOST}))


def _snapshot(state: ConferenceState, who: Principal, now: float) -> dict[str, Any] | None:
    return {"invites": view(state)} if may(who, Permission.INVITE) else None


def _messages(state: ConferenceState, event: Event) -> list[Message]:
    if event.type in ("invite.issued", "invite.revoked"):
        return [
            Message(
                audience=HOSTS, payload={"type": "invites", "invites": view(state)}, coalesce=True
            )
        ]
    return []


PART = Part(
    name="invites",
    init=dict,
    commands={
        "invite.record": CommandSpec(
            roles=frozenset({Role.HOST}),
            args=RecordArgs,
            decide=_record,
            doc="Record an invite the server issued (the token is never stored).",
        ),
    },
    reducers={"invite.issued": _on_issued, "invite.revoked": _on_revoked},
    snapshot=_snapshot,
    messages=_messages,
)
