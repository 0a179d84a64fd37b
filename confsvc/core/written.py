"""Written answers: experts, assignment and the life of each written question.

Theory of operation: everything that decides the written-answer life lives here, and this
file knows nothing of I/O (mail is composed, sent and received by ``confsvc.mail``).

A question becomes a *written question* when the question queue defers it (status
``deferred``) or imports it from before the session (``source=pre_session``), and it
stops being one when it is rejected or merged away. The question itself (text, language,
asker, status) is the queue's: this part reads it through ``questions.question(state,
qid)`` and folds no ``q.*`` event; it keeps only the written life beside it.

The life of a written question is the table ``TRANSITIONS``:
``open → assigned → sent → answered → reviewed → published``. Mail results and replies
arrive as system events decided by the mail adapter (``written.mail_sent``, ``written.mail_failed``,
``written.mail_received``); a reply that cannot be tied to a question, or is an auto-reply or a
bounce, is kept in the quarantine, never dropped. ``overdue`` and ``bounced`` are flags
beside the status, not statuses. Reminders and the organiser's digest are decisions made
from the state and a given ``now`` (``due_reminders``, ``digest_due``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from pydantic import Field

from confsvc.core.conference import (
    EVERYONE,
    MAX_TIMESTAMP,
    Args,
    Audience,
    CommandSpec,
    ConferenceState,
    Message,
    Part,
    stored_time,
)
from confsvc.core.errors import BadRequest, Forbidden, InvalidState, NotFound
from confsvc.core.events import (
    Event,
    NewEvent,
    Principal,
    WrittenAssigned,
    WrittenDigestSent,
    WrittenPublished,
    WrittenReminded,
    WrittenReviewed,
)
from confsvc.core.permissions import reads
from confsvc.core.questions import DEFERRED, MERGED, REJECTED, Question, question, questions
from confsvc.core.questions.desk import TRANSLATORS
from confsvc.core.questions.text import clean_text, guess_language
from confsvc.core.roles import STAFF, Role
from confsvc.core.translation import (
    Translations,
    add_version,
    check_version,
    current,
    desk_languages,
    missing,
    state_of,
)

OPEN, ASSIGNED, SENT, ANSWERED, REVIEWED, PUBLISHED = (
    "open",
    "assigned",
    "sent",
    "answered",
    "reviewed",
    "published",
)
STATUSES = (OPEN, ASSIGNED, SENT, ANSWERED, REVIEWED, PUBLISHED)

# status -> event that moves it -> next status. A command whose event is missing for the
# current status is refused with an error naming both. Mail results that do not move the
# status (a reminder sent, a second reply) are simply not in the table.
TRANSITIONS: dict[str, dict[str, str]] = {
    OPEN: {"written.assigned": ASSIGNED, "written.replied": ANSWERED},
    ASSIGNED: {
        "written.assigned": ASSIGNED,
        "written.mail_sent": SENT,
        "written.replied": ANSWERED,
    },
    SENT: {"written.assigned": ASSIGNED, "written.replied": ANSWERED},
    ANSWERED: {"written.replied": ANSWERED, "written.reviewed": REVIEWED},
    REVIEWED: {
        "written.replied": REVIEWED,
        "written.reviewed": REVIEWED,
        "written.published": PUBLISHED,
    },
    PUBLISHED: {"written.replied": PUBLISHED, "written.reviewed": PUBLISHED},
}

# Reminder kinds: before the due date, and once the due date has passed.
REMIND_BEFORE_S = 24 * 3600
REMIND_OVERDUE_EVERY_S = 48 * 3600
DIGEST_EVERY_S = 24 * 3600
MAX_TEXT = 20_000
MAX_REPLY_TEXT = 200_000


@dataclass(slots=True)
class ExpertInfo:
    id: str
    name: str
    email: str
    languages: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "languages": list(self.languages),
            "topics": list(self.topics),
        }


@dataclass(slots=True)
class Reply:
    """One reply (by mail or the browser page), as received; the raw mail stays in the log."""

    key: str  # Message-ID for mail, "web:<seq>" for the browser page
    at: float
    sender: str
    text: str
    via: str  # "mail" | "web"
    attachments: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "at": self.at,
            "from": self.sender,
            "text": self.text,
            "via": self.via,
            "attachments": self.attachments,
            "seq": self.seq,
        }


@dataclass(slots=True)
class WrittenQuestion:
    """The written life of one question, beside the queue's own ``Question`` object.

    ``question`` is the queue's object itself (read, never changed, never copied): text,
    language, asker and status are read through it, so an edit or a merge in the queue is
    seen here at once. Everything else is this part's.
    """

    question: Question
    status: str = OPEN
    expert: str | None = None
    due: float | None = None
    assigned_at: float | None = None
    bounced: str | None = None  # the reason of the last permanent failure or bounce
    replies: list[Reply] = field(default_factory=list)
    answer: str | None = None  # the reviewed (possibly edited) text that gets published
    reviewed_by: str | None = None
    published_at: float | None = None
    reminders: list[tuple[str, float]] = field(default_factory=list)  # (kind, at)
    moves: list[tuple[str, float]] = field(default_factory=list)  # (status, at) after open
    # The language whose translation of the question the assignment mail waits for
    # (``written.assigned``'s ``waits_for``; see ``waiting``).
    waits_for: str | None = None
    # The desk's translations of the answer (``written.translated``), every version.
    answer_translations: Translations = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.question.id

    @property
    def text(self) -> str:
        return self.question.text

    @property
    def language(self) -> str:
        return self.question.language

    @property
    def name(self) -> str | None:
        return self.question.name

    @property
    def site(self) -> str | None:
        return self.question.site

    @property
    def source(self) -> str:
        return self.question.source

    @property
    def email(self) -> str | None:
        return self.question.email

    @property
    def tags(self) -> list[str]:
        return list(self.question.tags)

    @property
    def translations(self) -> dict[str, str]:
        """The question's current translations (the desk's ``q.translate``), by language."""
        return current(self.question.translations, self.question.text)

    @property
    def waiting(self) -> bool:
        """Assigned, and the mail to the expert waits for the desk's translation."""
        return (
            self.status == ASSIGNED
            and self.waits_for is not None
            and self.waits_for not in self.translations
        )

    @property
    def answer_text(self) -> str | None:
        """The answer as it stands: the reviewed text, else the latest reply."""
        if self.answer is not None:
            return self.answer
        return self.replies[-1].text if self.replies else None

    @property
    def candidate(self) -> bool:
        """Deferred or pre-session, and neither rejected nor merged away."""
        status = self.question.status
        return (status == DEFERRED or self.source == "pre_session") and status not in (
            REJECTED,
            MERGED,
        )

    @property
    def opened_at(self) -> float:
        """When the written life opened: at the time of asking for a pre-session question,
        else when the queue deferred it (a live question is not written before that)."""
        q = self.question
        if q.source != "pre_session":
            for h in reversed(q.history):
                if h.type == "q.deferred":
                    return h.at
        return q.asked_at

    @property
    def path(self) -> list[tuple[str, float]]:
        return [(OPEN, self.opened_at), *self.moves]

    def overdue(self, now: float) -> bool:
        return self.due is not None and self.status in (ASSIGNED, SENT) and now > self.due

    def move(self, status: str, at: float) -> None:
        if status != self.status:
            self.status = status
            self.moves.append((status, at))


@dataclass(slots=True)
class Quarantined:
    key: str  # Message-ID
    at: float
    sender: str
    subject: str
    reason: str
    text: str
    seq: int
    auto: bool = False
    question: str | None = None  # the question it claimed (if any)
    assigned_to: str | None = None  # set once a moderator files it under a question

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "at": self.at,
            "from": self.sender,
            "subject": self.subject,
            "reason": self.reason,
            "text": self.text,
            "seq": self.seq,
            "auto": self.auto,
            "question": self.question,
            "assigned_to": self.assigned_to,
        }


@dataclass(slots=True)
class WrittenState:
    # The written life of the questions that have one so far (a written.* event named them);
    # every other question's is a fresh ``WrittenQuestion`` (see ``entry``).
    lives: dict[str, WrittenQuestion] = field(default_factory=dict)
    # The questions that may be written: every pre-session one and every one deferred
    # (``WrittenQuestion.candidate`` decides; a rejected or merged one is still here). So
    # ``written`` reads these few, not every question of the queue at every event.
    maybe: dict[str, None] = field(default_factory=dict)
    added_experts: dict[str, ExpertInfo] = field(default_factory=dict)
    quarantine: list[Quarantined] = field(default_factory=list)
    seen_mail: set[str] = field(default_factory=set)  # Message-IDs stored once
    failures: list[dict[str, Any]] = field(default_factory=list)  # mail that could not go
    last_digest_at: float | None = None


# One name: "written" (module, classes, functions, pages, routes, the part's key in the
# welcome's ``views``, the commands and events ``written.*``). Logs stored before the
# rename hold ``f.*`` events: ``confsvc.core.events.current_type`` reads them under their
# new names as the stores load them (events are never rewritten). Staff get the
# ``written.changed`` live message, everyone the ``written`` one (docs/protocol.md).
PART_NAME = "written"
STAFF_MESSAGE = "written.changed"


def written_state(state: ConferenceState) -> WrittenState:
    return cast(WrittenState, state.parts[PART_NAME])


def experts(state: ConferenceState) -> dict[str, ExpertInfo]:
    """The agenda's experts, then those a moderator added (which may replace one)."""
    out: dict[str, ExpertInfo] = {}
    if state.agenda is not None:
        for e in state.agenda.experts:
            out[e.id] = ExpertInfo(
                id=e.id,
                name=e.name,
                email=e.email,
                languages=list(e.languages),
                topics=list(e.topics),
            )
    out.update(written_state(state).added_experts)
    return out


def entry(state: ConferenceState, qid: str) -> WrittenQuestion | None:
    """Question ``qid`` with its written life (open when nothing happened yet), written or
    not; ``None`` when the queue holds no such question. Reads only: never stores."""
    life = written_state(state).lives.get(qid)
    if life is not None:
        return life
    q = question(state, qid)
    return None if q is None else WrittenQuestion(question=q)


def by_id(state: ConferenceState) -> dict[str, WrittenQuestion]:
    """Every question of the queue with its written life, written or not, by id."""
    lives = written_state(state).lives
    return {
        qid: lives.get(qid) or WrittenQuestion(question=q)
        for qid, q in questions(state).items.items()
    }


def written(state: ConferenceState) -> list[WrittenQuestion]:
    """Every written question (candidates only), in the order they were asked."""
    f = written_state(state)
    items = questions(state).items
    out = []
    for qid in f.maybe:
        q = items.get(qid)
        if q is None:
            continue
        w = f.lives.get(qid) or WrittenQuestion(question=q)
        if w.candidate:
            out.append(w)
    out.sort(key=lambda w: w.question.number)
    return out


def written_question(state: ConferenceState, qid: str) -> WrittenQuestion:
    q = entry(state, qid)
    if q is None or not q.candidate:
        raise NotFound.keyed("written.no_question", question=qid)
    return q


def _require(q: WrittenQuestion, event_type: str, command: str) -> None:
    if event_type not in TRANSITIONS[q.status]:
        raise InvalidState.keyed(
            "written.wrong_status", command=command, question=q.id, status=q.status
        )


# -- languages: what waits for the translation desk -------------------------------------


def has_desk(state: ConferenceState) -> bool:
    """A conference whose agenda lists ``translators:`` has a translation desk: the
    assignment mail and the publication wait for its translations (unless a moderator
    chooses to go untranslated). Without one nobody would translate, so nothing waits."""
    return bool(state.require_agenda().translators)


def reading_language(state: ConferenceState, expert: ExpertInfo) -> str:
    """The language an expert is written to in: their first that the desk covers."""
    agenda = state.require_agenda()
    known = desk_languages(agenda)
    return next((lang for lang in expert.languages if lang in known), agenda.default_language)


def expert_translation(state: ConferenceState, q: WrittenQuestion) -> str | None:
    """The question in its expert's language (the desk's), when it is not in it already."""
    e = experts(state).get(q.expert or "")
    if e is None:
        return None
    return q.translations.get(reading_language(state, e))


def answer_language(state: ConferenceState, q: WrittenQuestion) -> str:
    """The answer's language: guessed from its text, else the expert's first language."""
    text = q.answer_text
    if not text:
        return "other"
    guessed = guess_language(text, state.require_agenda().conference.languages)
    if guessed != "other":
        return guessed
    e = experts(state).get(q.expert or "")
    return e.languages[0] if e is not None and e.languages else "other"


def answer_needs(state: ConferenceState, q: WrittenQuestion) -> list[str]:
    """The languages the answer still needs: the asker's first, then the conference's."""
    text = q.answer_text
    if text is None:
        return []
    wanted = [q.language, *state.require_agenda().conference.languages]
    return missing(q.answer_translations, text, answer_language(state, q), wanted)


def translation_state(state: ConferenceState, q: WrittenQuestion) -> str:
    """What the dashboard shows: ``waiting`` (the mail waits for the question's
    translation), then the answer's: ``none``, ``partial``, ``stale``, ``done``; ``""``
    while there is neither."""
    if q.waiting:
        return "waiting"
    text = q.answer_text
    if text is None:
        return ""
    wanted = [q.language, *state.require_agenda().conference.languages]
    return state_of(q.answer_translations, text, answer_language(state, q), wanted)


def _waits_for(
    state: ConferenceState, q: WrittenQuestion, expert: ExpertInfo, untranslated: bool
) -> str | None:
    """The language the assignment mail must wait for, or ``None`` to send it now."""
    if untranslated or not has_desk(state) or q.language == "other":
        return None
    if q.language in expert.languages:
        return None  # the expert reads the original
    lang = reading_language(state, expert)
    return None if lang in q.translations else lang


def expert_load(state: ConferenceState) -> dict[str, int]:
    """Open (assigned or sent) questions per expert."""
    load: dict[str, int] = {}
    for other in written(state):
        if other.expert is not None and other.status in (ASSIGNED, SENT):
            load[other.expert] = load.get(other.expert, 0) + 1
    return load


def suggest_expert(
    state: ConferenceState, q: WrittenQuestion, load: dict[str, int] | None = None
) -> str | None:
    """The expert whose topics share most tags with the question and who reads its language.

    Language is required when any expert reads it; topic overlap ranks; ties go to the
    expert with fewer open questions, then agenda order. ``None`` when nobody fits.
    """
    if load is None:
        load = expert_load(state)
    words = {t.lower() for t in q.tags} | {w.strip(".,;:?!()").lower() for w in q.text.split()}
    everyone = list(experts(state).values())
    speakers = [e for e in everyone if q.language in e.languages]
    best: tuple[int, int, int] | None = None
    choice: str | None = None
    for order, e in enumerate(speakers or everyone):
        overlap = len(words & {t.lower() for t in e.topics})
        if overlap == 0 and not speakers:
            continue  # neither language nor topic: no suggestion
        key = (overlap, -load.get(e.id, 0), -order)
        if best is None or key > best:
            best, choice = key, e.id
    return choice


# -- commands ------------------------------------------------------------------


class ExpertArgs(Args):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$", max_length=254)
    languages: list[Annotated[str, Field(max_length=32)]] = Field(
        default_factory=list, max_length=16
    )
    topics: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=64)


def _add_expert(
    state: ConferenceState, args: ExpertArgs, who: Principal, now: float
) -> list[NewEvent]:
    for text in (args.name, args.email):
        _no_header_breaks(text, "args.name" if text is args.name else "args.email")
    return [NewEvent(type="written.expert_added", data=args.model_dump())]


# A due date is at most this far from now: written answers take days, not years.
MAX_DUE_AHEAD_S = 366 * 24 * 3600.0


class AssignOne(Args):
    question: str = Field(min_length=1, max_length=64)
    expert: str = Field(min_length=1, max_length=64)
    due: float = Field(gt=0, le=MAX_TIMESTAMP)
    # Send the question to the expert without waiting for the desk's translation.
    untranslated: bool = False


def _check_due(due: float, now: float, cmd: str) -> None:
    if due > now + MAX_DUE_AHEAD_S:
        raise BadRequest.keyed(
            "written.due_far", command=cmd, days=int(MAX_DUE_AHEAD_S // 86400), field="args.due"
        )


def _assigned(state: ConferenceState, a: AssignOne, now: float, cmd: str) -> NewEvent:
    q = written_question(state, a.question)
    if a.expert not in experts(state):
        raise NotFound.keyed("written.no_expert", command=cmd, expert=a.expert)
    _require(q, "written.assigned", cmd)
    if a.due <= now:
        raise BadRequest.keyed("written.due_past", command=cmd, field="args.due")
    _check_due(a.due, now, cmd)
    # With waits_for the mail goes once the desk has translated the question; untranslated
    # is the moderator's explicit choice not to wait, kept in the log.
    waits = _waits_for(state, q, experts(state)[a.expert], a.untranslated)
    return WrittenAssigned(
        question=q.id,
        expert=a.expert,
        due=float(a.due),
        waits_for=waits,
        untranslated=waits is None and a.untranslated,
    ).event()


def _assign(state: ConferenceState, args: AssignOne, who: Principal, now: float) -> list[NewEvent]:
    return [_assigned(state, args, now, "written.assign")]


class BatchArgs(Args):
    items: list[AssignOne] = Field(min_length=1, max_length=500)


def _assign_batch(
    state: ConferenceState, args: BatchArgs, who: Principal, now: float
) -> list[NewEvent]:
    seen: set[str] = set()
    out = []
    for a in args.items:
        if a.question in seen:
            raise BadRequest.keyed("written.twice", question=a.question, field="args.items")
        seen.add(a.question)
        out.append(_assigned(state, a, now, "written.assign_batch"))
    return out


class DueArgs(Args):
    question: str = Field(min_length=1, max_length=64)
    due: float = Field(gt=0, le=MAX_TIMESTAMP)


def _set_due(state: ConferenceState, args: DueArgs, who: Principal, now: float) -> list[NewEvent]:
    q = written_question(state, args.question)
    if q.status not in (ASSIGNED, SENT):
        raise InvalidState.keyed(
            "written.wrong_status", command="written.set_due", question=q.id, status=q.status
        )
    _check_due(args.due, now, "written.set_due")
    return [NewEvent(type="written.due_changed", data={"question": q.id, "due": float(args.due)})]


class AnswerArgs(Args):
    question: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=MAX_TEXT)


def _answer_web(
    state: ConferenceState, args: AnswerArgs, who: Principal, now: float
) -> list[NewEvent]:
    q = written_question(state, args.question)
    if who.role is Role.EXPERT and (who.expert is None or who.expert != q.expert):
        raise Forbidden.keyed("written.not_yours", question=q.id)
    _require(q, "written.replied", "written.answer")
    if not args.text.strip():
        raise BadRequest.keyed("written.empty_answer", field="args.text")
    sender = who.expert or who.actor
    return [
        NewEvent(
            type="written.replied",
            data={"question": q.id, "via": "web", "from": sender, "text": args.text},
        )
    ]


class ReviewArgs(Args):
    question: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=MAX_TEXT)


def _review(state: ConferenceState, args: ReviewArgs, who: Principal, now: float) -> list[NewEvent]:
    q = written_question(state, args.question)
    _require(q, "written.reviewed", "written.review")
    return [WrittenReviewed(question=q.id, text=args.text).event()]


class PublishArgs(Args):
    question: str = Field(min_length=1, max_length=64)
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    # Publish without the desk's translation into the asker's language.
    untranslated: bool = False


def _check_translated(
    state: ConferenceState, q: WrittenQuestion, text: str, args: PublishArgs
) -> None:
    """With a desk, the answer is published once it is translated into the asker's
    language (from this very text), unless the moderator chooses to publish it as it is."""
    if args.untranslated or not has_desk(state) or q.language == "other":
        return
    if q.language == answer_language(state, q) or q.language in current(
        q.answer_translations, text
    ):
        return
    raise InvalidState.keyed(
        "written.untranslated", question=q.id, language=q.language, field="args.untranslated"
    )


def _publish(
    state: ConferenceState, args: PublishArgs, who: Principal, now: float
) -> list[NewEvent]:
    """Publish the reviewed answer; from ``answered``, review (with ``text`` or the latest
    reply) and publish in one step."""
    q = written_question(state, args.question)
    out: list[NewEvent] = []
    status = q.status
    if status == ANSWERED or (status == REVIEWED and args.text is not None):
        text = args.text if args.text is not None else q.replies[-1].text
        if not text.strip():
            raise BadRequest.keyed("written.publish_empty", question=q.id, field="args.text")
        out.append(WrittenReviewed(question=q.id, text=text).event())
        status = REVIEWED
    if "written.published" not in TRANSITIONS[status]:
        raise InvalidState.keyed(
            "written.wrong_status", command="written.publish", question=q.id, status=q.status
        )
    _check_translated(state, q, str(out[-1].data["text"]) if out else (q.answer or ""), args)
    out.append(WrittenPublished(question=q.id, untranslated=bool(args.untranslated)).event())
    return out


class TranslateArgs(Args):
    question: str = Field(min_length=1, max_length=64)
    language: str = Field(min_length=2, max_length=16)
    text: str = Field(max_length=MAX_TEXT)


TRANSLATABLE = (ANSWERED, REVIEWED, PUBLISHED)


def _translate(
    state: ConferenceState, args: TranslateArgs, who: Principal, now: float
) -> list[NewEvent]:
    """A translation of the answer as it stands (every version kept, like a question's)."""
    q = written_question(state, args.question)
    source = q.answer_text
    if q.status not in TRANSLATABLE or source is None:
        raise InvalidState.keyed(
            "written.wrong_status", command="written.translate", question=q.id, status=q.status
        )
    text = clean_text(args.text, "the translation", "args.text", MAX_TEXT)
    check_version(
        command="written.translate",
        subject=f"the answer to {q.id}",
        who=who,
        agenda=state.require_agenda(),
        source_language=answer_language(state, q),
        language=args.language,
        text=text,
        source=source,
        translations=q.answer_translations,
    )
    data = {"question": q.id, "language": args.language, "text": text, "source": source}
    return [NewEvent(type="written.translated", data=data)]


class FileArgs(Args):
    key: str = Field(min_length=1, max_length=1000)
    question: str = Field(min_length=1, max_length=64)


def _file_quarantined(
    state: ConferenceState, args: FileArgs, who: Principal, now: float
) -> list[NewEvent]:
    item = next((m for m in written_state(state).quarantine if m.key == args.key), None)
    if item is None:
        raise NotFound.keyed("written.no_mail", mail=args.key)
    if item.assigned_to is not None:
        raise InvalidState.keyed("written.filed", mail=args.key, question=item.assigned_to)
    q = written_question(state, args.question)
    _require(q, "written.replied", "written.file")
    return [
        NewEvent(
            type="written.replied",
            data={
                "question": q.id,
                "via": "mail",
                "from": item.sender,
                "text": item.text,
                "key": item.key,
                "quarantine": True,
            },
        )
    ]


# -- decisions for the mail adapter (given now) ------------------------------------


def classify_reply(
    state: ConferenceState,
    *,
    question: str | None,
    how: str,
    sender: str,
    auto: bool,
) -> tuple[str | None, str | None]:
    """Where an inbound mail goes: ``(question, None)`` or ``(None|claimed, reason)``.

    ``question`` is what the adapter matched (by signed address or our Message-ID in
    ``In-Reply-To``/``References``; ``how`` says which, or why nothing matched). An
    auto-reply or bounce never counts as an answer; a sender other than the assigned
    expert goes to the quarantine, as does a question in no state to take a reply.
    """
    if auto:
        return None, "auto-reply or bounce"
    if question is None:
        return None, how
    q = entry(state, question)
    if q is None or not q.candidate:
        return None, f"no written question {question!r}"
    expert = experts(state).get(q.expert or "")
    if expert is None:
        return None, f"question {question!r} has no expert"
    if sender.strip().lower() != expert.email.lower():
        return None, f"sender {sender!r} is not the expert of {question!r}"
    if "written.replied" not in TRANSITIONS[q.status]:
        return None, f"question {question!r} is {q.status}"
    return question, None


BOUNCE_SENDERS = ("mailer-daemon", "postmaster")  # local parts that only send reports


@dataclass(frozen=True, slots=True, kw_only=True)
class MailFacts:
    """What the mail adapter read from one inbound mail, and nothing it decided.

    ``question``/``claimed``/``how`` come from our signed reply address or Message-ID
    (``confsvc.mail.ingest.match``); ``dsn_questions`` are the questions our Message-IDs
    in a delivery report name (``None`` where a reference is not one of ours).
    """

    message_id: str
    sender: str
    envelope_from: str | None = None  # SMTP MAIL FROM: "" for a bounce, None when unknown
    auto: bool = False  # Auto-Submitted, Precedence: bulk/list, a delivery report
    dsn_questions: tuple[str | None, ...] = ()
    question: str | None = None
    claimed: str | None = None
    how: str = "no reply address and no known In-Reply-To"
    cut_at: int | None = None  # the size limit, when the mail was larger and kept in part


@dataclass(frozen=True, slots=True, kw_only=True)
class MailVerdict:
    """What an inbound mail is: ``kind`` is reply, bounce, auto-reply, duplicate or stranger
    (anything else that goes to the quarantine, ``reason`` saying why)."""

    kind: str
    question: str | None = None  # the question it answers, else the one it claimed
    reason: str | None = None  # None: it counts as a reply
    bounce_of: str | None = None


def classify_mail(state: ConferenceState, facts: MailFacts) -> MailVerdict:
    """Decide what one inbound mail is, from the facts the adapter extracted.

    A Message-ID already stored is a duplicate (stored once). An auto-submitted mail that
    is a delivery report about one of our mails (by its references, or sent by
    MAILER-DAEMON/postmaster or with an empty envelope sender) bounces that question's
    mail; auto-replies and bounces never count as answers (``classify_reply``).
    """
    if facts.message_id in written_state(state).seen_mail:
        return MailVerdict(kind="duplicate", question=facts.question or facts.claimed)
    bounce_of: str | None = None
    if facts.auto:
        bounce_of = next((q for q in facts.dsn_questions if q), None)
        local = facts.sender.split("@")[0]
        if bounce_of is None and (
            facts.dsn_questions or local in BOUNCE_SENDERS or facts.envelope_from == ""
        ):
            bounce_of = facts.question or facts.claimed
    got: str | None
    reason: str | None
    if facts.cut_at is not None:
        got, reason = None, f"larger than {facts.cut_at} bytes: kept in part"
    else:
        got, reason = classify_reply(
            state, question=facts.question, how=facts.how, sender=facts.sender, auto=facts.auto
        )
    if bounce_of is not None:
        kind = "bounce"
    elif facts.auto:
        kind = "auto-reply"
    else:
        kind = "reply" if reason is None else "stranger"
    return MailVerdict(
        kind=kind,
        question=got if got is not None else facts.claimed,
        reason=reason,
        bounce_of=bounce_of,
    )


def due_reminders(state: ConferenceState, now: float) -> list[NewEvent]:
    """Reminders to send now: one a day before the due date, then every two days late."""
    out: list[NewEvent] = []
    for q in written(state):
        if q.status not in (ASSIGNED, SENT) or q.due is None or q.expert is None:
            continue
        if q.waiting:
            continue  # the expert has not been sent the question yet
        since = q.assigned_at or 0.0
        mine = [at for kind, at in q.reminders if at >= since]
        if now > q.due:
            last = max((at for kind, at in q.reminders if at >= since and at > q.due), default=0.0)
            if last == 0.0 or now - last >= REMIND_OVERDUE_EVERY_S:
                out.append(WrittenReminded(question=q.id, kind="overdue", now=now).event())
        elif q.due - now <= REMIND_BEFORE_S and not mine and q.due - since > REMIND_BEFORE_S:
            out.append(WrittenReminded(question=q.id, kind="before", now=now).event())
    return out


def digest_due(state: ConferenceState, now: float) -> list[NewEvent]:
    """The organiser's daily digest of what is open, when a day has passed since the last."""
    f = written_state(state)
    if f.last_digest_at is not None and now - f.last_digest_at < DIGEST_EVERY_S:
        return []
    counts = view_counts(state, now)
    if sum(counts[s] for s in (OPEN, ASSIGNED, SENT, ANSWERED, REVIEWED)) == 0:
        return []
    return [WrittenDigestSent(counts=counts, now=now).event()]


# -- fold ----------------------------------------------------------------------


def _q(state: ConferenceState, event: Event) -> WrittenQuestion | None:
    return _life(state, str(event.data.get("question")))


def _life(state: ConferenceState, qid: str) -> WrittenQuestion | None:
    """The written life of question ``qid``, kept from now on (the fold's ``entry``);
    ``None`` when the queue holds no such question."""
    lives = written_state(state).lives
    life = lives.get(qid)
    if life is None:
        q = question(state, qid)
        if q is None:
            return None
        life = lives[qid] = WrittenQuestion(question=q)
    return life


def _on_expert_added(state: ConferenceState, event: Event) -> None:
    d = event.data
    written_state(state).added_experts[str(d["id"])] = ExpertInfo(
        id=str(d["id"]),
        name=str(d["name"]),
        email=str(d["email"]),
        languages=list(d.get("languages") or []),
        topics=list(d.get("topics") or []),
    )


def _on_assigned(state: ConferenceState, event: Event) -> None:
    q = _q(state, event)
    if q is None:
        return
    assigned = WrittenAssigned.parse(event.data)
    q.expert = assigned.expert
    q.due = stored_time(assigned.due)
    q.assigned_at = event.at
    q.bounced = None
    q.waits_for = assigned.waits_for
    q.moves.append((ASSIGNED, event.at))
    q.status = ASSIGNED


def _on_due_changed(state: ConferenceState, event: Event) -> None:
    q = _q(state, event)
    if q is not None:
        q.due = stored_time(event.data.get("due"))


def _on_mail_sent(state: ConferenceState, event: Event) -> None:
    q = _q(state, event)
    if q is None:
        return
    if event.data.get("kind") == "assignment" and q.status == ASSIGNED:
        q.move(SENT, event.at)
    if event.data.get("kind") in ("assignment", "reminder"):
        q.bounced = None


def _on_mail_failed(state: ConferenceState, event: Event) -> None:
    f = written_state(state)
    f.failures.append({**event.data, "at": event.at})
    q = _q(state, event)
    if q is not None and event.data.get("permanent"):
        q.bounced = str(event.data.get("error") or "permanent failure")


def _add_reply(q: WrittenQuestion, event: Event, *, key: str, via: str, seq: int) -> None:
    """A reply joins its question (``written.replied`` and a stored mail that matched alike)."""
    d = event.data
    reply = Reply(
        key=key,
        at=event.at,
        sender=str(d.get("from") or ""),
        text=str(d.get("text") or ""),
        via=via,
        attachments=list(d.get("attachments") or []),
        seq=seq,
    )
    q.replies.append(reply)
    nxt = TRANSITIONS[q.status].get("written.replied")
    if nxt is not None:
        q.move(nxt, reply.at)


def _on_replied(state: ConferenceState, event: Event) -> None:
    q = _q(state, event)
    if q is None:
        return
    d = event.data
    key = str(d.get("key") or f"web:{event.seq}")
    if d.get("quarantine"):
        for m in written_state(state).quarantine:
            if m.key == key:
                m.assigned_to = q.id
    _add_reply(
        q, event, key=key, via=str(d.get("via") or "mail"), seq=int(d.get("seq") or event.seq)
    )


def _on_mail_received(state: ConferenceState, event: Event) -> None:
    """A stored inbound mail: a reply to a question, or quarantined (with its reason)."""
    f = written_state(state)
    d = event.data
    key = str(d["message_id"])
    if key in f.seen_mail:
        return
    f.seen_mail.add(key)
    question = d.get("question")
    bounce_of = d.get("bounce_of")
    if bounce_of and isinstance(bounce_of, str):
        q = _life(state, bounce_of)
        if q is not None:
            q.bounced = "bounce report received"
    replied = _q(state, event) if question is not None else None
    if replied is not None and d.get("reason") is None:
        _add_reply(replied, event, key=key, via="mail", seq=event.seq)
        return
    if question is not None and d.get("reason") is None:
        return  # a reply to a question this log does not hold: nothing to keep it with
    f.quarantine.append(
        Quarantined(
            key=key,
            at=event.at,
            sender=str(d.get("from") or ""),
            subject=str(d.get("subject") or ""),
            reason=str(d.get("reason") or "unmatched"),
            text=str(d.get("text") or ""),
            seq=event.seq,
            auto=bool(d.get("auto")),
            question=question,
        )
    )


def _on_reviewed(state: ConferenceState, event: Event) -> None:
    q = _q(state, event)
    if q is None:
        return
    q.answer = WrittenReviewed.parse(event.data).text
    q.reviewed_by = event.actor
    nxt = TRANSITIONS[q.status].get("written.reviewed")
    if nxt is not None:
        q.move(nxt, event.at)


def _on_translated(state: ConferenceState, event: Event) -> None:
    q = _q(state, event)
    if q is None:
        return
    d = event.data
    add_version(
        q.answer_translations,
        language=str(d["language"]),
        at=event.at,
        actor=event.actor,
        text=str(d["text"]),
        source=str(d.get("source") or q.answer_text or ""),
    )


def _on_published(state: ConferenceState, event: Event) -> None:
    q = _q(state, event)
    if q is None:
        return
    q.published_at = event.at
    q.move(PUBLISHED, event.at)


def _on_reminded(state: ConferenceState, event: Event) -> None:
    q = _q(state, event)
    if q is not None:
        reminded = WrittenReminded.parse(event.data)
        # When it was decided (the ``now`` it was decided for), else when it was stored.
        q.reminders.append((reminded.kind, reminded.now if reminded.now is not None else event.at))


def _on_may_be_written(state: ConferenceState, event: Event) -> None:
    """``q.asked`` (pre-session) and ``q.deferred``: a question that may be written."""
    if event.type == "q.deferred" or event.data.get("source") == "pre_session":
        written_state(state).maybe[str(event.data["id"])] = None


def _on_digest(state: ConferenceState, event: Event) -> None:
    now = WrittenDigestSent.parse(event.data).now
    written_state(state).last_digest_at = now if now is not None else event.at


# -- views ---------------------------------------------------------------------


def view_counts(state: ConferenceState, now: float) -> dict[str, int]:
    counts = dict.fromkeys((*STATUSES, "overdue", "bounced", "quarantine", "total"), 0)
    for q in written(state):
        counts[q.status] += 1
        counts["total"] += 1
        if q.overdue(now):
            counts["overdue"] += 1
        if q.bounced:
            counts["bounced"] += 1
    counts["quarantine"] = sum(1 for m in written_state(state).quarantine if m.assigned_to is None)
    return counts


def question_view(
    state: ConferenceState,
    q: WrittenQuestion,
    now: float,
    load: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "id": q.id,
        "text": q.text,
        "translation": expert_translation(state, q),
        "translations": q.translations,
        "language": q.language,
        "name": q.name,
        "site": q.site,
        "source": q.source,
        "tags": list(q.tags),
        "has_email": q.email is not None,
        "status": q.status,
        "expert": q.expert,
        "due": q.due,
        "overdue": q.overdue(now),
        "bounced": q.bounced,
        "replies": [r.as_dict() for r in q.replies],
        "answer": q.answer,
        **_answer_languages(state, q),
        "waits_for": q.waits_for if q.waiting else None,
        "translation_state": translation_state(state, q),
        "published_at": q.published_at,
        "reminders": [list(r) for r in q.reminders],
        "path": [list(p) for p in q.path],
        "suggestion": suggest_expert(state, q, load) if q.status == OPEN else None,
    }


def _answer_languages(state: ConferenceState, q: WrittenQuestion) -> dict[str, Any]:
    """The answer's language, its current translations, every version, what it needs."""
    text = q.answer_text
    return {
        "answer_language": answer_language(state, q) if text else None,
        "answer_translations": current(q.answer_translations, text) if text else {},
        "answer_versions": q.answer_translations,
        "answer_needs": answer_needs(state, q),
    }


def desk_item(state: ConferenceState, q: WrittenQuestion) -> dict[str, Any]:
    """What a translator sees of an answer: its text and language, the question it
    answers (in the question's language), what it needs, its translations."""
    text = q.answer_text or ""
    return {
        "question": q.id,
        "status": q.status,
        "text": text,
        "language": answer_language(state, q),
        "question_text": q.text,
        "question_language": q.language,
        "needs": answer_needs(state, q),
        "translations": current(q.answer_translations, text),
        "versions": q.answer_translations,
    }


def desk_view(state: ConferenceState, who: Principal) -> list[dict[str, Any]]:
    """The answers waiting at the desk (or translated), in the languages ``who`` reads."""
    out = []
    for q in written(state):
        if q.status in TRANSLATABLE and q.answer_text:
            item = desk_item(state, q)
            if reads(who, item["language"]):
                out.append(item)
    return out


def staff_view(state: ConferenceState, now: float) -> dict[str, Any]:
    load = expert_load(state)
    return {
        "questions": [question_view(state, q, now, load) for q in written(state)],
        "experts": [e.as_dict() for e in experts(state).values()],
        "counts": view_counts(state, now),
        "quarantine": [m.as_dict() for m in written_state(state).quarantine],
        "now": now,
    }


def expert_view(state: ConferenceState, expert: str | None, now: float) -> dict[str, Any]:
    mine = [q for q in written(state) if expert is not None and q.expert == expert]
    return {
        "expert": expert,
        "questions": [
            {
                "id": q.id,
                "text": q.text,
                "translation": expert_translation(state, q),
                "language": q.language,
                "site": q.site,
                "status": q.status,
                "due": q.due,
                "overdue": q.overdue(now),
                "answered": bool(q.replies),
            }
            for q in mine
            if not q.waiting  # not sent to the expert yet: the desk translates it first
        ],
    }


def public_view(state: ConferenceState) -> dict[str, Any]:
    """Published answers only: what anybody may read (no e-mail addresses, no names of
    experts' mailboxes, no unpublished replies)."""
    out: list[dict[str, Any]] = []
    for q in written(state):
        if q.status != PUBLISHED:
            continue
        e = experts(state).get(q.expert or "")
        out.append(
            {
                "id": q.id,
                "text": q.text,
                "translations": q.translations,
                "language": q.language,
                "site": q.site,
                "name": q.name,
                "answer": q.answer,
                "answer_language": answer_language(state, q),
                "answer_translations": current(q.answer_translations, q.answer or ""),
                "expert": e.name if e is not None else None,
                "published_at": q.published_at,
            }
        )
    out.sort(key=lambda a: float(a["published_at"] or 0.0))
    return {"published": out}


def report(state: ConferenceState) -> list[dict[str, Any]]:
    """Every written question with its path through the statuses and its answer (for the
    post-session report). Not for the public page: use ``public_view``."""
    out = []
    for q in written(state):
        e = experts(state).get(q.expert or "")
        out.append(
            {
                "id": q.id,
                "text": q.text,
                "language": q.language,
                "site": q.site,
                "source": q.source,
                "status": q.status,
                "expert": e.name if e is not None else q.expert,
                "due": q.due,
                "path": [{"status": s, "at": at} for s, at in q.path],
                "replies": len(q.replies),
                "answer": q.answer,
                "published_at": q.published_at,
            }
        )
    return out


def _snapshot(state: ConferenceState, who: Principal, now: float) -> dict[str, Any] | None:
    if who.role in STAFF or who.role is Role.SYSTEM:
        return {**staff_view(state, now), **public_view(state)}
    if who.role is Role.EXPERT:
        return {**expert_view(state, who.expert, now), **public_view(state)}
    if who.role is Role.TRANSLATOR:
        return {"desk": desk_view(state, who), **public_view(state)}
    return public_view(state)


STAFF_AUDIENCE = Audience(roles=STAFF)
DESK_AUDIENCE = Audience(roles=frozenset({Role.TRANSLATOR}))  # each filters by its languages
_PUBLIC_EVENTS = {
    *("written.published", "written.reviewed", "written.translated"),
    *("q.edited", "q.rejected", "q.merged", "q.translated"),
}


def _messages(state: ConferenceState, event: Event) -> list[Message]:
    """Staff get what changed (the question, the counts; the quarantine or the experts
    when those changed), not the whole list: a batch of a thousand stays cheap. Everyone
    gets the published answers when they change."""
    if not event.type.startswith(("written.", "q.")):
        return []
    f = written_state(state)
    qid = event.data.get("question") or event.data.get("id")
    if event.type == "written.mail_received":
        qid = event.data.get("question") if event.data.get("reason") is None else None
    change: dict[str, Any] = {"type": STAFF_MESSAGE, "counts": view_counts(state, event.at)}
    q = entry(state, str(qid)) if qid is not None else None
    if q is not None:
        if q.candidate:
            change["questions"] = [question_view(state, q, event.at)]
        else:
            change["removed"] = [q.id]
    if event.type in ("written.mail_received", "written.replied"):
        change["quarantine"] = [m.as_dict() for m in f.quarantine]
    if event.type == "written.expert_added":
        change["experts"] = [e.as_dict() for e in experts(state).values()]
    if q is None and "quarantine" not in change and "experts" not in change:
        if event.type not in ("written.digest_sent",):
            return []
    out = [Message(audience=STAFF_AUDIENCE, payload=change)]
    if q is not None and q.candidate and q.status in TRANSLATABLE and q.answer_text:
        desk = {"type": "written.desk", "item": desk_item(state, q)}
        out.append(Message(audience=DESK_AUDIENCE, payload=desk))
    if event.type in _PUBLIC_EVENTS and (q is None or q.published_at is not None):
        out.append(
            Message(
                audience=EVERYONE,
                payload={"type": "written", "written": public_view(state)},
                coalesce=True,
            )
        )
    return out


def _no_header_breaks(text: str, fld: str) -> None:
    if any(ch in text for ch in "\r\n\0"):
        raise BadRequest.keyed("written.header", field=fld)


MOD = frozenset({Role.HOST, Role.MODERATOR})

PART = Part(
    name=PART_NAME,
    init=WrittenState,
    commands={
        "written.expert.add": CommandSpec(
            roles=MOD, args=ExpertArgs, decide=_add_expert, doc="Add (or replace) an expert."
        ),
        "written.assign": CommandSpec(
            roles=MOD, args=AssignOne, decide=_assign, doc="Assign a question with a due date."
        ),
        "written.assign_batch": CommandSpec(
            roles=MOD, args=BatchArgs, decide=_assign_batch, doc="Assign several at once."
        ),
        "written.set_due": CommandSpec(
            roles=MOD, args=DueArgs, decide=_set_due, doc="Change a question's due date."
        ),
        "written.answer": CommandSpec(
            roles=frozenset({Role.EXPERT, Role.HOST, Role.MODERATOR}),
            args=AnswerArgs,
            decide=_answer_web,
            doc="Answer in the browser (the expert's page).",
        ),
        "written.review": CommandSpec(
            roles=MOD, args=ReviewArgs, decide=_review, doc="Set the answer text to publish."
        ),
        "written.publish": CommandSpec(
            roles=MOD, args=PublishArgs, decide=_publish, doc="Publish the reviewed answer."
        ),
        "written.translate": CommandSpec(
            roles=TRANSLATORS,
            args=TranslateArgs,
            decide=_translate,
            doc="Enter or correct a translation of an answer (every version kept).",
        ),
        "written.file": CommandSpec(
            roles=MOD,
            args=FileArgs,
            decide=_file_quarantined,
            doc="File a quarantined mail as a reply to a question.",
        ),
    },
    reducers={
        "q.asked": _on_may_be_written,
        "q.deferred": _on_may_be_written,
        "written.expert_added": _on_expert_added,
        "written.assigned": _on_assigned,
        "written.due_changed": _on_due_changed,
        "written.mail_sent": _on_mail_sent,
        "written.mail_failed": _on_mail_failed,
        "written.mail_received": _on_mail_received,
        "written.replied": _on_replied,
        "written.reviewed": _on_reviewed,
        "written.published": _on_published,
        "written.translated": _on_translated,
        "written.reminded": _on_reminded,
        "written.digest_sent": _on_digest,
    },
    snapshot=_snapshot,
    messages=_messages,
)
