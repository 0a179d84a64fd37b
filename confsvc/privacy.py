"""Personal data in a store: export everything held about a person, or erase it.

The rules (who the person is, what names them, how each event is rewritten) are in
``confsvc.core.privacy``; this module reads the store, applies them to every
conference's log and outbox, checks that the rewritten log still folds, and writes it
back with ``EventStore.rewrite`` (one transaction per conference, with the
``privacy.erased`` event), then ``EventStore.compact`` so the old rows leave the files.
Not for deleting a whole conference: that is ``EventStore.delete_conference``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from confsvc.core import privacy as P
from confsvc.core import written as W
from confsvc.core.events import Event
from confsvc.core.questions import questions, staff_view
from confsvc.core.registry import RULES
from confsvc.store import ConcurrencyError, EventStore, NewRecord, OutboxChange

EXPORT_FORMAT = "confsvc-privacy-export"
EXPORT_VERSION = 1
ACTOR = "cli/privacy"


class NotHeld(LookupError):
    """Nothing in the store names the person."""


async def _conferences(store: EventStore, conference: str | None) -> list[str]:
    have = await store.list_conferences()
    if conference is None:
        return have
    if conference not in have:
        raise NotHeld(f"no conference {conference!r} in the store (it has: {', '.join(have)})")
    return [conference]


async def _logs(store: EventStore, conference: str | None) -> dict[str, list[Event]]:
    return {cid: await store.read(cid) for cid in await _conferences(store, conference)}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Row:
    id: int
    key: str
    payload: dict[str, Any]
    status: str
    last_error: str | None


async def _outbox(store: Any, conference: str) -> list[_Row]:
    rows = await store.outbox_sql(
        "SELECT id, key, payload, status, last_error FROM outbox WHERE conference = ? ORDER BY id",
        (conference,),
        write=False,
    )
    return [
        _Row(
            id=int(r[0]),
            key=str(r[1]),
            payload=json.loads(r[2]) if isinstance(r[2], (str, bytes)) else dict(r[2]),
            status=str(r[3]),
            last_error=r[4],
        )
        for r in rows
    ]


def _fold(conference: str, events: list[Event]) -> Any:
    state = RULES.new_state(conference)
    for e in events:
        RULES.fold(state, e)
    return state


# -- export ---------------------------------------------------------------------


async def export_person(
    store: EventStore,
    *,
    email: str | None = None,
    name: str | None = None,
    conference: str | None = None,
) -> dict[str, Any]:
    """Everything held about the person, per conference, as one JSON-ready object."""
    logs = await _logs(store, conference)
    person = P.identify(logs.values(), email=email, name=name)
    out = []
    for cid, events in logs.items():
        item = await _export_one(store, cid, events, person)
        if item is not None:
            out.append(item)
    if not out:
        raise NotHeld(_nothing(email, name))
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": time.time(),
        "person": {
            "emails": sorted(person.emails),
            "names": sorted(person.names),
            "invites": sorted(person.invites),
            "experts": sorted(person.experts),
        },
        "conferences": out,
    }


def _nothing(email: str | None, name: str | None) -> str:
    who = " or ".join(repr(x) for x in (email, name) if x)
    return f"nothing in the store names {who}"


async def _export_one(
    store: EventStore, cid: str, events: list[Event], person: P.Person
) -> dict[str, Any] | None:
    about = [e for e in events if P.about(e, person)]
    outbox = [
        {"id": r.id, "key": r.key, "status": r.status, "last_error": r.last_error, **r.payload}
        for r in await _outbox(store, cid)
        if P.redact_outbox(r.payload, r.status, person) is not None
        or P.mentions(r.last_error, person)
    ]
    if not about and not outbox:
        return None
    state = _fold(cid, events)
    asked = {str(e.data["id"]) for e in about if P.asked_by(e, person)}
    named = {str(e.data["id"]) for e in about if e.type == "q.asked"} - asked
    qs = questions(state)
    written = W.by_id(state)
    now = time.time()
    return {
        "conference": cid,
        "invites": [e.data for e in about if e.type == "invite.issued"],
        "questions": [staff_view(q) for qid, q in qs.items.items() if qid in asked],
        "questions_naming_them": [staff_view(q) for qid, q in qs.items.items() if qid in named],
        "written_questions": [
            W.question_view(state, written[qid], now) for qid in sorted(asked) if qid in written
        ],
        "votes": [
            {"question": e.data.get("id"), "invite": e.data.get("invite"), "at": e.at}
            for e in about
            if e.type == "q.voted"
        ],
        "experts": [x.as_dict() for eid, x in W.experts(state).items() if eid in person.experts],
        "mails_received": [
            {"seq": e.seq, **e.data} for e in about if e.type == "written.mail_received"
        ],
        "written_answers": [{"seq": e.seq, **e.data} for e in about if e.type == "written.replied"],
        "outbox": outbox,
        "events": [e.as_dict() for e in about],
    }


# -- erasure ----------------------------------------------------------------------


@dataclass(slots=True)
class Erasure:
    """What one erasure did, per conference (counts only: no erased string)."""

    conferences: dict[str, dict[str, int]] = field(default_factory=dict)
    terms: int = 0

    @property
    def total(self) -> P.Counts:
        c = P.Counts()
        for counts in self.conferences.values():
            for k, v in counts.items():
                setattr(c, k, getattr(c, k) + v)
        return c


async def erase_person(
    store: EventStore,
    *,
    email: str | None = None,
    name: str | None = None,
    conference: str | None = None,
    compact: bool = True,
    attempts: int = 10,
) -> Erasure:
    """Erase the person from every conference (or one), then compact the store.

    ``NotHeld`` when nothing names them; a ``ValueError`` (nothing written) if a
    rewritten log would not fold.
    """
    logs = await _logs(store, conference)
    person = P.identify(logs.values(), email=email, name=name)
    result = Erasure(terms=len(person.terms()))
    for cid in logs:
        for _attempt in range(attempts):
            events = await store.read(cid)  # again: the log may have grown meanwhile
            try:
                counts = await _erase_one(store, cid, events, person)
            except ConcurrencyError:
                continue
            if counts is not None:
                result.conferences[cid] = counts.as_dict()
            break
        else:
            raise RuntimeError(
                f"Conference({cid}): the log grew during each of {attempts} attempts; "
                "try again when it is quieter"
            )
    if not result.conferences:
        raise NotHeld(_nothing(email, name))
    if compact:
        await store.compact()
    return result


async def _erase_one(
    store: EventStore, cid: str, events: list[Event], person: P.Person
) -> P.Counts | None:
    counts = P.Counts()
    data: dict[int, dict[str, Any]] = {}
    rewritten: list[Event] = []
    for e in events:
        r = P.redact(e.type, e.data, person)
        if r is not None:
            data[e.seq] = r.data
            counts.add(r.counts)
        rewritten.append(
            e if r is None else Event(seq=e.seq, type=e.type, at=e.at, actor=e.actor, data=r.data)
        )
    changes = []
    for row in await _outbox(store, cid):
        o = P.redact_outbox(row.payload, row.status, person)
        error, n = P.scrub(row.last_error, person)
        if o is None and not n:
            continue
        changes.append(
            OutboxChange(
                id=row.id,
                payload=row.payload if o is None else o.payload,
                status=None if o is None else o.status,
                last_error=P.ERASED_STATUS_NOTE if o is not None and o.status else error,
            )
        )
    counts.outbox = len(changes)
    if not data and not changes:
        return None
    try:
        _fold(cid, rewritten)
    except Exception as exc:
        raise ValueError(
            f"Conference({cid}): the log would not fold after erasure ({exc}); nothing was changed"
        ) from exc
    new = P.erased_event(person, counts)
    record = NewRecord(type=new.type, at=time.time(), actor=ACTOR, data=new.data)
    last = events[-1].seq if events else 0
    await store.rewrite(cid, last, data, [record], outbox=changes)
    return counts
