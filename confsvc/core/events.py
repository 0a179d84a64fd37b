"""Events, commands and principals: the plain data that crosses the core's boundary."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from confsvc.core.roles import Role


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """An event decided by the core, not yet stored (it has no seq)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)


# Event types renamed since they were first stored: a store reads old rows under the new
# name (``current_type``), so the fold, the views and every reader see one name. Events are
# never rewritten in a store (``confsvc.store.migrations``).
RENAMED_TYPES: dict[str, str] = {
    f"f.{name}": f"written.{name}"
    for name in (
        "expert_added",
        "assigned",
        "due_changed",
        "replied",
        "reviewed",
        "published",
        "reminded",
        "mail_received",
        "mail_sent",
        "mail_failed",
        "digest_sent",
    )
}


def current_type(stored: str) -> str:
    """The name the code uses for an event type read from a store."""
    return RENAMED_TYPES.get(stored, stored)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A stored event: position ``seq`` in its conference's log (1-based)."""

    seq: int
    type: str
    at: float
    actor: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "at": self.at,
            "actor": self.actor,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who sends a command: a role, the site for site links, the invite's id, and on a
    shared audience link the person (one browser) among its holders
    (``confsvc.core.audience``)."""

    role: Role
    invite: str
    site: str | None = None
    name: str | None = None
    expert: str | None = None  # the expert's id, for expert links
    interpreter: str | None = None  # the agenda's interpreter id, for interpreter links
    languages: tuple[str, ...] = ()  # a translator's languages (none: every language)
    person: str | None = None  # one browser among a shared audience link's holders

    @property
    def identity(self) -> str:
        """The one person behind a command: the invite id for a personal link,
        ``<invite>.<person>`` on a shared audience link. Votes, "my questions" and rate
        limits go by it; revocation goes by ``invite`` (it ends every holder)."""
        return self.invite if self.person is None else f"{self.invite}.{self.person}"

    @property
    def actor(self) -> str:
        """What the event log records as the actor: role, site and identity (no secret)."""
        base = self.role.value if self.site is None else f"{self.role.value}:{self.site}"
        return f"{base}/{self.identity}"


SYSTEM = Principal(role=Role.SYSTEM, invite="system")

# Left out of a question's recorded steps: its id, and the idempotency key the command
# carried (``confsvc.core.idempotency.KEY_FIELD``: the log's business, not the history's).
STEP_HIDDEN = frozenset({"id", "_idem"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    # The client's idempotency key: sent again, the command returns its first outcome.
    key: str | None = None


# -- the contract between parts --------------------------------------------------------
#
# A payload that one part emits and another reads has a type here: the emitting part
# builds it (``.event()``), the reading part parses the stored data (``.parse``), so a
# field renamed on one side fails the other's tests. Payloads a part only reads itself
# stay plain dicts beside their rule. The stored form is unchanged: these types write and
# read the same JSON the log already holds.


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


# Strings up to this long are kept once however many events carry them (``shared``).
SHARED_MAX = 64


def shared(value: object) -> object:
    """``value``, and if it is a short string the one copy of it (``sys.intern``).

    An event from another node or the store is decoded from JSON, which makes a new string
    for every key and value; what the state keeps of it (a question's steps, its fields)
    would hold a copy of "q.voted", "voter", the voter's identity, the site... for every
    event, ~0.8 KB a question (bench/state_memory.py ``--wire``). Long strings (a question's
    text) are left alone: they seldom repeat."""
    if type(value) is str and len(value) <= SHARED_MAX:
        return sys.intern(value)
    return value


def _shared_str(value: object) -> str | None:
    return None if value is None else sys.intern(str(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionAsked:
    """``q.asked``: a question joins the queue, asked live or imported from before the
    session. Built by the question part (``queue.asked_event``); read by its fold. Other
    parts read the folded ``Question`` (``questions.question``), never this payload."""

    TYPE: ClassVar[str] = "q.asked"
    id: str
    text: str
    language: str
    name: str | None = None
    site: str | None = None
    source: str = "live"  # "live" | "pre_session"
    email: str | None = None
    invite: str | None = None

    def event(self) -> NewEvent:
        return NewEvent(
            type=self.TYPE,
            data={
                "id": self.id,
                "text": self.text,
                "language": self.language,
                "name": self.name,
                "site": self.site,
                "source": self.source,
                "email": self.email,
                "invite": self.invite,
            },
        )

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> QuestionAsked:
        """The stored payload (an erased log holds ``None`` for name, e-mail and invite)."""
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            language=sys.intern(str(data["language"])),
            name=_opt_str(data.get("name")),
            site=_shared_str(data.get("site")),
            source=sys.intern(str(data.get("source") or "live")),
            email=_opt_str(data.get("email")),
            invite=_shared_str(data.get("invite")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One event in a question's life as the question part records it (``Question.history``).

    Read by the report (a question's path) and by written answers (when the queue deferred
    a question, the time its written life opens); sent as a dict in the staff's views and
    exports (``as_dict``). ``data`` is the event's payload without the question's ``id``.
    """

    seq: int
    at: float
    actor: str
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, event: Event) -> Step:
        return cls(
            seq=event.seq,
            at=event.at,
            actor=sys.intern(event.actor),
            type=sys.intern(event.type),
            data={sys.intern(k): shared(v) for k, v in event.data.items() if k not in STEP_HIDDEN},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "type": self.type,
            "data": dict(self.data),
        }

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Step:
        """A step as a view or an export wrote it (``as_dict``)."""
        payload = data.get("data")
        return cls(
            seq=int(data["seq"]),
            at=float(data["at"]),
            actor=str(data["actor"]),
            type=str(data["type"]),
            data=dict(payload) if isinstance(payload, Mapping) else {},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OnAir:
    """``floor.on_air``: these sites are heard while a question is on air (none: it ended).

    Built by the question part when a question goes on or off air (``floor.on_air_event``);
    read by the floor part's fold, and through the floor's log by the report."""

    TYPE: ClassVar[str] = "floor.on_air"
    sites: tuple[str, ...] = ()

    def event(self) -> NewEvent:
        return NewEvent(type=self.TYPE, data={"sites": list(self.sites)})

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> OnAir:
        sites = data["sites"]
        if not isinstance(sites, list):
            raise ValueError(f"floor.on_air: sites is {type(sites).__name__}, not a list")
        return cls(sites=tuple(str(s) for s in sites))


def _opt_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# -- written answers: what the mail adapter reads ---------------------------------------
# Built by the written-answers part (``confsvc.core.written``), read by its fold and by the
# mail adapter (``confsvc.mail.compose``: which mail goes, to whom, with what). Optional
# fields are left out of the stored payload when unset, so the JSON is as before.


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenAssigned:
    """``written.assigned``: ``expert`` is asked to answer ``question`` by ``due``.
    ``waits_for``: the language the desk must translate it into before the mail goes;
    ``untranslated``: the moderator chose to send it without a translation."""

    TYPE: ClassVar[str] = "written.assigned"
    question: str
    expert: str
    due: float | None
    waits_for: str | None = None
    untranslated: bool = False

    def event(self) -> NewEvent:
        data: dict[str, Any] = {"question": self.question, "expert": self.expert}
        data["due"] = self.due
        if self.waits_for is not None:
            data["waits_for"] = self.waits_for
        if self.untranslated:
            data["untranslated"] = True
        return NewEvent(type=self.TYPE, data=data)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> WrittenAssigned:
        return cls(
            question=str(data["question"]),
            expert=str(data["expert"]),
            due=_opt_float(data.get("due")),
            waits_for=_opt_str(data.get("waits_for")),
            untranslated=data.get("untranslated") is True,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenReviewed:
    """``written.reviewed``: the text a moderator will publish for ``question``."""

    TYPE: ClassVar[str] = "written.reviewed"
    question: str
    text: str

    def event(self) -> NewEvent:
        return NewEvent(type=self.TYPE, data={"question": self.question, "text": self.text})

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> WrittenReviewed:
        return cls(question=str(data["question"]), text=str(data["text"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenPublished:
    """``written.published``: ``question``'s answer is public (and mailed to its asker);
    ``untranslated``: published without a translation into the asker's language."""

    TYPE: ClassVar[str] = "written.published"
    question: str
    untranslated: bool = False

    def event(self) -> NewEvent:
        data: dict[str, Any] = {"question": self.question}
        if self.untranslated:
            data["untranslated"] = True
        return NewEvent(type=self.TYPE, data=data)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> WrittenPublished:
        return cls(question=str(data["question"]), untranslated=data.get("untranslated") is True)


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenReminded:
    """``written.reminded``: the expert of ``question`` is reminded (``kind``: ``before``
    the due date or ``overdue``), decided for the time ``now``."""

    TYPE: ClassVar[str] = "written.reminded"
    question: str
    kind: str
    now: float | None = None

    def event(self) -> NewEvent:
        data = {"question": self.question, "kind": self.kind, "now": self.now}
        return NewEvent(type=self.TYPE, data=data)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> WrittenReminded:
        return cls(
            question=str(data["question"]),
            kind=str(data["kind"]),
            now=_opt_float(data.get("now")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenDigestSent:
    """``written.digest_sent``: the organiser's digest of what is open, with its
    ``counts``, decided for the time ``now``."""

    TYPE: ClassVar[str] = "written.digest_sent"
    counts: Mapping[str, int] = field(default_factory=dict)
    now: float | None = None

    def event(self) -> NewEvent:
        return NewEvent(type=self.TYPE, data={"counts": dict(self.counts), "now": self.now})

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> WrittenDigestSent:
        counts = data.get("counts")
        return cls(
            counts={str(k): int(v) for k, v in counts.items()}
            if isinstance(counts, Mapping)
            else {},
            now=_opt_float(data.get("now")),
        )
