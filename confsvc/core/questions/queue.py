"""The live queue: asking, voting and every command that moves or changes one question.

A command on one question is registered once with ``@question_command(name, args,
event=...)``: the decorator makes its decider (find the question, ask the life table
``after``, run the rule body, record the event) and its reducer (the status from the same
table, then the body's other fields from ``@fields_of(event)``). The rule bodies below
only check what the table cannot say (texts, sites, targets, rate limits) and return the
event's data. The floor follows the on-air question here, for every command at once:
leaving the air clears it first, going on air gives it to the asking and answering sites.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from confsvc.core.commands import CommandTable
from confsvc.core.conference import Args, CommandSpec, ConferenceState, Reducer
from confsvc.core.errors import BadRequest, InvalidState, NotFound, RateLimited, Stale
from confsvc.core.events import Event, NewEvent, Principal, QuestionAsked, Step
from confsvc.core.floor import on_air_event
from confsvc.core.questions.life import (
    MERGE_TARGETS,
    ON_AIR,
    SHOWN,
    TRANSITIONS,
    after,
    folded_status,
)
from confsvc.core.questions.similar import track_target
from confsvc.core.questions.state import Question, questions
from confsvc.core.questions.text import MAX_TEXT, clean_optional, clean_text, guess_language
from confsvc.core.roles import STAFF, Role

MAX_ASKS_PER_MIN = 5
MAX_VOTES_PER_MIN = 30

ASKERS = frozenset({Role.PARTICIPANT, Role.SITE})

COMMANDS = CommandTable()  # the part's commands: this module's, posts' and the import's
EVENT_OF: dict[str, str] = {}  # question command -> the event its decision records
COMMAND_OF: dict[str, str] = {}  # and back: which row of the table an event folds by


@dataclass(frozen=True, slots=True, kw_only=True)
class Act:
    """One command on one question, found and allowed by the table: what a rule body reads."""

    command: str
    state: ConferenceState
    q: Question
    who: Principal
    now: float


Body = Callable[[Act, Any], dict[str, Any]]
FieldSetter = Callable[[ConferenceState, Question, Event], None]
_FIELDS: dict[str, FieldSetter] = {}


def question_command(
    name: str,
    args: type[Args],
    *,
    event: str,
    doc: str,
    roles: frozenset[Role] = STAFF,
    shown_only: bool = False,
) -> Callable[[Body], Body]:
    """Register ``name``: its args (with an ``id``), roles and event, and the rule body.

    ``shown_only``: a question the room does not see is "not found" (not "pending") for it.
    """

    def register(body: Body) -> Body:
        def decide(state: ConferenceState, a: Any, who: Principal, now: float) -> list[NewEvent]:
            q = questions(state).get(a.id, name)
            if shown_only and q.status not in SHOWN:
                raise NotFound.keyed("q.no_question", command=name, question=a.id)
            check_seen(q, name, getattr(a, "from_status", None))
            nxt = after(q.id, q.status, name, q.merged_into)
            data = body(Act(command=name, state=state, q=q, who=who, now=now), a)
            recorded = NewEvent(type=event, data={"id": q.id, **data})
            if q.status == ON_AIR and nxt != ON_AIR:
                return [on_air_event([]), recorded]
            if nxt == ON_AIR and q.status != ON_AIR:
                sites = {s for s in (q.site, data.get("site")) if s is not None}
                agenda = state.require_agenda()
                return [recorded, on_air_event([s for s in agenda.site_ids if s in sites])]
            return [recorded]

        COMMANDS.add(name, CommandSpec(roles=roles, args=args, decide=decide, doc=doc))
        EVENT_OF[name] = event
        COMMAND_OF[event] = name
        return body

    return register


def check_seen(q: Question, command: str, from_status: str | None) -> None:
    """Refuse a transition decided on a status the question has left (``Stale``)."""
    if from_status is None or from_status == q.status:
        return
    by = f" by the {q.history[-1].actor.split('/', 1)[0].split(':', 1)[0]}" if q.history else ""
    raise Stale(f"{command}: {q.id} is already {q.status}{by}; you saw it {from_status}")


def fields_of(event: str) -> Callable[[FieldSetter], FieldSetter]:
    """Register what folding ``event`` changes besides the status (which the table sets)."""

    def register(setter: FieldSetter) -> FieldSetter:
        _FIELDS[event] = setter
        return setter

    return register


def allowed_actions(q: Question, roles: frozenset[Role]) -> list[str]:
    """The commands on ``q`` that the table allows now and every one of ``roles`` may run,
    without the ``q.`` (``["approve", "reject", ...]``), in registration order: what the
    moderator console draws as buttons."""
    row = TRANSITIONS[q.status]
    return [
        name.removeprefix("q.")
        for name in EVENT_OF
        if name in row and roles <= COMMANDS.specs[name].roles
    ]


# -- arguments -----------------------------------------------------------------

Language = Literal["zh", "pl", "en", "other"]


class AskArgs(Args):
    text: str = Field(max_length=4 * MAX_TEXT)
    language: Language | None = None
    name: str | None = Field(default=None, max_length=200)
    site: str | None = Field(default=None, max_length=64)


class IdArgs(Args):
    id: str = Field(max_length=32)
    # The status the actor saw (optional): a question that has moved since is ``Stale``.
    from_status: str | None = Field(default=None, min_length=1, max_length=32)


class RejectArgs(IdArgs):
    reason: str | None = Field(default=None, max_length=2000)


class EditArgs(IdArgs):
    text: str = Field(max_length=4 * MAX_TEXT)


class MergeArgs(IdArgs):
    into: str = Field(max_length=32)


class TagArgs(IdArgs):
    tags: list[Annotated[str, Field(max_length=64)]] = Field(max_length=10)


class PinArgs(IdArgs):
    pinned: bool = True


class NoteArgs(IdArgs):
    text: str = Field(max_length=8000)


class OnAirArgs(IdArgs):
    site: str | None = Field(default=None, max_length=64)  # the answering site


class AnswerArgs(IdArgs):
    site: str | None = Field(default=None, max_length=64)
    expert: str | None = Field(default=None, max_length=64)


# -- asking --------------------------------------------------------------------


def asked_event(
    *,
    qid: str,
    text: str,
    language: str,
    name: str | None,
    site: str | None,
    source: str,
    email: str | None,
    invite: str | None,
) -> NewEvent:
    """``q.asked``: a live question (``q.ask``) or one imported from before the session."""
    return QuestionAsked(
        id=qid,
        text=text,
        language=language,
        name=name,
        site=site,
        source=source,
        email=email,
        invite=invite,
    ).event()


def _recent(times: list[float], now: float) -> int:
    return sum(1 for t in times if now - t < 60.0)


@COMMANDS.command("q.ask", AskArgs, roles=ASKERS, doc="Ask a question (participants and sites).")
def _ask(state: ConferenceState, args: AskArgs, who: Principal, now: float) -> list[NewEvent]:
    qs = questions(state)
    if _recent(qs.asks.get(who.identity, []), now) >= MAX_ASKS_PER_MIN:
        raise RateLimited.keyed("q.rate", max=MAX_ASKS_PER_MIN)
    text = clean_text(args.text, "the question", "args.text")
    name = clean_optional(args.name, "the name", "args.name", 80)
    site = who.site if who.site is not None else args.site
    if site is not None and state.require_agenda().site(site) is None:
        raise BadRequest.keyed("site.unknown", command="q.ask", site=site, field="args.site")
    return [
        asked_event(
            qid=qs.next_id(),
            text=text,
            language=args.language
            or guess_language(text, state.require_agenda().conference.languages),
            name=name,  # none: anonymous (the form pre-fills the invite's name)
            site=site,
            source="live",
            email=None,
            invite=who.identity,
        )
    ]


# -- commands on one question, in the order the console shows them -------------------


def _check_site(act: Act, site: str | None) -> None:
    if site is not None and act.state.require_agenda().site(site) is None:
        raise BadRequest.keyed("site.unknown", command=act.command, site=site, field="args.site")


@question_command("q.approve", IdArgs, event="q.approved", doc="Approve a question.")
def _approve(act: Act, args: IdArgs) -> dict[str, Any]:
    return {}


@question_command(
    "q.on_air", OnAirArgs, event="q.on_air", doc="Put an approved question on air (one at a time)."
)
def _on_air(act: Act, args: OnAirArgs) -> dict[str, Any]:
    on_air = questions(act.state).on_air
    if on_air is not None:
        raise InvalidState.keyed("q.other_on_air", command=act.command, question=on_air)
    _check_site(act, args.site)
    return {"site": args.site}


@question_command(
    "q.answer",
    AnswerArgs,
    event="q.answered",
    doc="Mark a question answered live, by a site or expert.",
)
def _answer(act: Act, args: AnswerArgs) -> dict[str, Any]:
    _check_site(act, args.site)
    if args.expert is not None and all(
        e.id != args.expert for e in act.state.require_agenda().experts
    ):
        raise BadRequest.keyed(
            "q.no_expert", command=act.command, expert=args.expert, field="args.expert"
        )
    return {"site": args.site, "expert": args.expert}


@question_command("q.off_air", IdArgs, event="q.off_air", doc="Take it off air, unanswered.")
def _off_air(act: Act, args: IdArgs) -> dict[str, Any]:
    return {}


@question_command("q.restore", IdArgs, event="q.restored", doc="Bring back a rejected one.")
def _restore(act: Act, args: IdArgs) -> dict[str, Any]:
    return {}


@question_command(
    "q.reject", RejectArgs, event="q.rejected", doc="Reject a question, with an optional reason."
)
def _reject(act: Act, args: RejectArgs) -> dict[str, Any]:
    return {"reason": clean_optional(args.reason, "the reason", "args.reason", 500)}


@question_command("q.defer", IdArgs, event="q.deferred", doc="Defer to a written answer.")
def _defer(act: Act, args: IdArgs) -> dict[str, Any]:
    return {}


@question_command(
    "q.edit", EditArgs, event="q.edited", doc="Edit a question's text (every version is kept)."
)
def _edit(act: Act, args: EditArgs) -> dict[str, Any]:
    text = clean_text(args.text, "the question", "args.text")
    if text == act.q.text:
        raise InvalidState.keyed("q.unchanged", command=act.command, question=act.q.id)
    return {"text": text}


@question_command(
    "q.merge", MergeArgs, event="q.merged", doc="Merge a duplicate into another question."
)
def _merge(act: Act, args: MergeArgs) -> dict[str, Any]:
    target = questions(act.state).get(args.into, act.command)
    if target.id == act.q.id:
        raise BadRequest.keyed("q.merge_self", command=act.command, field="args.into")
    if target.status not in MERGE_TARGETS:
        raise InvalidState.keyed(
            "q.merge_target", command=act.command, question=target.id, status=target.status
        )
    return {"into": target.id}


TAG = re.compile(r"^[\w-]{1,32}$")


@question_command("q.tag", TagArgs, event="q.tagged", doc="Set a question's tags.")
def _tag(act: Act, args: TagArgs) -> dict[str, Any]:
    tags: list[str] = []
    for tag in args.tags:
        tag = tag.strip().lower()
        if not TAG.match(tag):
            raise BadRequest.keyed("q.tag", command=act.command, tag=tag, field="args.tags")
        if tag not in tags:
            tags.append(tag)
    return {"tags": tags}


@question_command("q.pin", PinArgs, event="q.pinned", doc="Pin or unpin a question.")
def _pin(act: Act, args: PinArgs) -> dict[str, Any]:
    if act.q.pinned == args.pinned:
        state = "pinned" if act.q.pinned else "not pinned"
        raise InvalidState.keyed("q.already", command=act.command, question=act.q.id, status=state)
    return {"pinned": args.pinned}


@question_command("q.note", NoteArgs, event="q.noted", doc="Add a private moderator note.")
def _note(act: Act, args: NoteArgs) -> dict[str, Any]:
    return {"text": clean_text(args.text, "the note", "args.text", 2000)}


@question_command(
    "q.vote",
    IdArgs,
    event="q.voted",
    doc="Upvote an approved question, once.",
    roles=ASKERS,
    shown_only=True,  # a pending question is not the voter's business: not found
)
def _vote(act: Act, args: IdArgs) -> dict[str, Any]:
    q, invite = act.q, act.who.identity
    if invite in q.voters:
        raise InvalidState.keyed("q.voted", command=act.command, question=q.id)
    if invite in q.askers:
        raise InvalidState.keyed("q.own", command=act.command, question=q.id)
    if _recent(questions(act.state).votes.get(invite, []), act.now) >= MAX_VOTES_PER_MIN:
        raise RateLimited.keyed("q.vote_rate", command=act.command, max=MAX_VOTES_PER_MIN)
    return {"invite": invite}


# -- fold ----------------------------------------------------------------------


def _record(q: Question, event: Event) -> None:
    q.history.append(Step.of(event))


def _on_asked(state: ConferenceState, event: Event) -> None:
    qs = questions(state)
    d = QuestionAsked.parse(event.data)
    q = Question(
        id=d.id,
        text=d.text,
        language=d.language,
        name=d.name,
        site=d.site,
        source=d.source,
        email=d.email,
        invite=d.invite,
        asked_at=event.at,
        number=len(qs.items) + 1,
    )
    if q.invite is not None:
        q.askers.append(q.invite)
        times = qs.asks.setdefault(q.invite, [])
        times.append(event.at)
        del times[:-MAX_ASKS_PER_MIN]
    qs.items[q.id] = q
    track_target(qs, q)
    _record(q, event)


def _reducer(event_type: str) -> Reducer:
    """Fold one question command's event: the status from the table, then the fields."""
    command = COMMAND_OF[event_type]

    def fold(state: ConferenceState, event: Event) -> None:
        qs = questions(state)
        q = qs.items[event.data["id"]]
        before = q.status
        _record(q, event)
        q.prev_status, q.status = before, folded_status(before, command)
        setter = _FIELDS.get(event_type)
        if setter is not None:
            setter(state, q, event)
        if event_type == "q.edited" or (q.status in MERGE_TARGETS and before not in MERGE_TARGETS):
            qs.similar_rev += 1
        if event_type == "q.edited" or q.status != before:
            track_target(qs, q)
        if q.status == ON_AIR and before != ON_AIR:
            qs.on_air = q.id
        elif q.status != ON_AIR and qs.on_air == q.id:
            qs.on_air = None

    return fold


def reducers() -> dict[str, Reducer]:
    """Every event this module folds."""
    return {"q.asked": _on_asked, **{etype: _reducer(etype) for etype in COMMAND_OF}}


@fields_of("q.rejected")
def _rejected(state: ConferenceState, q: Question, event: Event) -> None:
    q.reason = event.data.get("reason")


@fields_of("q.restored")
def _restored(state: ConferenceState, q: Question, event: Event) -> None:
    q.reason = None


@fields_of("q.on_air")
def _went_on_air(state: ConferenceState, q: Question, event: Event) -> None:
    q.on_air_at = event.at
    q.answering = event.data.get("site")


@fields_of("q.answered")
def _answered(state: ConferenceState, q: Question, event: Event) -> None:
    q.answered_at = event.at
    q.answered_by = {"site": event.data.get("site"), "expert": event.data.get("expert")}


@fields_of("q.merged")
def _merged(state: ConferenceState, q: Question, event: Event) -> None:
    target = questions(state).items[event.data["into"]]
    target.prev_status = target.status
    q.merged_into = target.id
    target.merged_from += (q.id,)
    target.voters |= q.voters
    for invite in q.askers:
        if invite not in target.askers:
            target.askers.append(invite)
    _record(target, event)


@fields_of("q.edited")
def _edited(state: ConferenceState, q: Question, event: Event) -> None:
    if not q.edits:
        q.edits = ({"at": q.asked_at, "actor": "asker", "text": q.text},)
    q.edits += ({"at": event.at, "actor": event.actor, "text": event.data["text"]},)
    q.text = event.data["text"]


@fields_of("q.tagged")
def _tagged(state: ConferenceState, q: Question, event: Event) -> None:
    q.tags = tuple(event.data["tags"])


@fields_of("q.pinned")
def _pinned(state: ConferenceState, q: Question, event: Event) -> None:
    q.pinned = bool(event.data["pinned"])


@fields_of("q.noted")
def _noted(state: ConferenceState, q: Question, event: Event) -> None:
    q.notes += ({"at": event.at, "actor": event.actor, "text": event.data["text"]},)


@fields_of("q.voted")
def _voted(state: ConferenceState, q: Question, event: Event) -> None:
    invite = event.data["invite"]
    q.voters.add(invite)
    times = questions(state).votes.setdefault(invite, [])
    times.append(event.at)
    del times[:-MAX_VOTES_PER_MIN]
