"""What a principal may do: one table, asked by every adapter and by the rules engine.

Galene gives each client a set of permissions (``op``, ``present``, ``record``) and every
handler asks that set; confsvc does the same. ``permissions(who)`` is the whole answer
for a principal (or an invite, which has the same role and site), ``may`` asks for one,
``require`` raises the ``Forbidden`` an adapter sends back, and ``may_run`` answers for
a command, whose roles its ``CommandSpec`` lists beside its rule.

Not for checking that a link is genuine, unexpired or unrevoked (``confsvc.core.roles``
verifies the signature, ``ConferenceState.revoked`` holds revocations) nor for what a
role *sees* in its snapshot (each part's ``snapshot`` decides that from these answers).
"""

from __future__ import annotations

import enum
from typing import Protocol

from confsvc.core.errors import Forbidden
from confsvc.core.roles import Role


class Permission(enum.StrEnum):
    WATCH = "watch"
    """Receive the sites' media over WebRTC (any invite link; the public has the live page)."""
    PRESENT = "present"
    """Publish a camera and microphone, as the link's own site only."""
    STAFF = "staff"
    """Staff data and pages: the question export, the written answers, the organiser's report."""
    INVITE = "invite"
    """Issue invite links (the host console, ``confsvc invite``, the demo's links)."""
    RECORD = "record"
    """Start, pause, resume and stop the recording; list and download its files and the
    press kit (``confsvc.core.recording``, the organiser's recordings page)."""
    TRANSLATE = "translate"
    """Enter translations at the translation desk, between languages the holder reads
    (``may_translate``); staff may translate between any."""
    INTERPRET = "interpret"
    """Speak into one's own interpretation channel and take over the booth (an interpreter
    link, which names its interpreter)."""


class Holder(Protocol):
    """Whoever holds a link: a ``Principal`` or the ``Invite`` it was made from."""

    @property
    def role(self) -> Role: ...

    @property
    def site(self) -> str | None: ...

    @property
    def languages(self) -> tuple[str, ...]: ...

    @property
    def interpreter(self) -> str | None: ...


_BY_ROLE: dict[Role, frozenset[Permission]] = {
    Role.HOST: frozenset(
        {Permission.WATCH, Permission.STAFF, Permission.INVITE, Permission.TRANSLATE}
    ),
    Role.MODERATOR: frozenset({Permission.WATCH, Permission.STAFF, Permission.TRANSLATE}),
    Role.SITE: frozenset({Permission.WATCH, Permission.PRESENT}),
    Role.EXPERT: frozenset({Permission.WATCH}),
    Role.TRANSLATOR: frozenset({Permission.WATCH, Permission.TRANSLATE}),
    Role.INTERPRETER: frozenset({Permission.WATCH, Permission.INTERPRET}),
    Role.PARTICIPANT: frozenset({Permission.WATCH}),
    Role.PUBLIC: frozenset(),
    # The server itself (agenda loads, mail results, the CLI's writes): never on a socket.
    Role.SYSTEM: frozenset({Permission.STAFF, Permission.INVITE, Permission.TRANSLATE}),
}
# The organiser records: the host (never a site, whose people are the ones recorded).
_BY_ROLE[Role.HOST] = _BY_ROLE[Role.HOST] | {Permission.RECORD}


def permissions(who: Holder) -> frozenset[Permission]:
    """Everything ``who`` may do; a site link without a site presents nothing, an
    interpreter link without an interpreter interprets nothing."""
    granted = _BY_ROLE[who.role]
    if Permission.PRESENT in granted and not who.site:
        granted = granted - {Permission.PRESENT}
    if Permission.INTERPRET in granted and not who.interpreter:
        granted = granted - {Permission.INTERPRET}
    return granted


def may(who: Holder, permission: Permission) -> bool:
    return permission in permissions(who)


def require(who: Holder, permission: Permission, refusal: str, *, field: str | None = None) -> None:
    """Raise ``Forbidden(refusal)`` unless ``who`` has ``permission``.

    The refusal is the adapter's sentence, because it names what was asked for
    ("role 'participant' may not export questions"); the decision is this module's.
    """
    if not may(who, permission):
        raise Forbidden(refusal, field=field)


def reads(who: Holder, language: str) -> bool:
    """Does ``who`` work in ``language`` at the translation desk? Staff and a translator
    whose link names no languages work in all of them."""
    if not may(who, Permission.TRANSLATE):
        return False
    return who.role is not Role.TRANSLATOR or not who.languages or language in who.languages


def may_translate(who: Holder, source: str, target: str) -> bool:
    """May ``who`` translate a text in ``source`` into ``target``: they read both."""
    return source != target and reads(who, source) and reads(who, target)


def roles_with(permission: Permission) -> frozenset[Role]:
    """The roles that hold ``permission``: a command's ``CommandSpec.roles`` when the
    permission, not a list of roles, is its rule (``confsvc.core.recording``)."""
    return frozenset(role for role, granted in _BY_ROLE.items() if permission in granted)


def may_run(who: Holder, roles: frozenset[Role]) -> bool:
    """May ``who`` run a command open to ``roles`` (its ``CommandSpec.roles``)? The
    server's own principal runs every command."""
    return who.role is Role.SYSTEM or who.role in roles


def anonymous(who: Holder) -> bool:
    """Connected without an invite link (the public viewer): limits then apply per
    address, not per link."""
    return who.role is Role.PUBLIC
