"""The record of invite links: which were issued (never the token itself) and revoked.

Tokens are made by the adapters, which hold the secret; they record each one here with
``invite.record`` (from the host console) or an ``invite.issued`` event appended by
``confsvc invite``, so the host sees every link and can revoke it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

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
from confsvc.core.roles import INVITE_ROLES, Role


@dataclass(slots=True, kw_only=True)
class InviteRecord:
    id: str
    role: str
    site: str | None
    expires: int
    issued_at: float
    issued_by: str
    name: str | None = None
    revoked_at: float | None = None


def invites(state: ConferenceState) -> dict[str, InviteRecord]:
    return cast(dict[str, InviteRecord], state.parts["invites"])


class RecordArgs(Args):
    id: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    role: str = Field(max_length=32)
    site: str | None = Field(default=None, max_length=64)
    expires: int = Field(gt=0, le=int(MAX_TIMESTAMP))
    name: str | None = Field(default=None, max_length=200)


def issued_event(args: dict[str, Any]) -> NewEvent:
    """The event that records an issued invite (``args`` as for ``invite.record``)."""
    return NewEvent(type="invite.issued", data=RecordArgs.model_validate(args).model_dump())


def _record(state: ConferenceState, args: RecordArgs, who: Principal, now: float) -> list[NewEvent]:
    if args.role not in {r.value for r in INVITE_ROLES}:
        raise BadRequest(f"no invites for role {args.role!r}", field="args.role")
    if (args.role == Role.SITE.value) != (args.site is not None):
        raise BadRequest(
            "a site invite needs a site, and only a site invite takes one", field="args.site"
        )
    if args.site is not None and state.require_agenda().site(args.site) is None:
        raise BadRequest(f"no site {args.site!r} in the agenda", field="args.site")
    if args.id in invites(state):
        raise InvalidState(f"invite {args.id!r} is already recorded")
    return [NewEvent(type="invite.issued", data=args.model_dump())]


def _on_issued(state: ConferenceState, event: Event) -> None:
    d = event.data
    invites(state)[d["id"]] = InviteRecord(
        id=d["id"],
        role=d["role"],
        site=d.get("site"),
        expires=int(stored_time(d.get("expires")) or 0),
        name=d.get("name"),
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
            "expires": r.expires,
            "issued_at": r.issued_at,
            "revoked": r.revoked_at is not None,
        }
        for r in sorted(invites(state).values(), key=lambda r: r.issued_at)
    ]


HOSTS = Audience(roles=frozenset({Role.HOST}))


def _snapshot(state: ConferenceState, who: Principal, now: float) -> dict[str, Any] | None:
    return {"invites": view(state)} if who.role is Role.HOST else None


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
