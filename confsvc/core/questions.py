"""The live question queue and the live text broadcast (posts).

Theory of operation: everything that changes a question lives in this file, and this
file knows nothing of I/O. A question's life is the table ``TRANSITIONS``
(``{status: {command: status after}}``); a command missing from the row of the
question's status is refused with one error that names the command, the question and
its status. Commands that do not move a question (edit, tag, pin, note, vote) are in the
table too, mapped to the same status, so the table alone says what may happen when.

Who may do what is the ``roles`` of each ``CommandSpec``: participants and sites ask and
vote; hosts and moderators (``STAFF``) do everything else. Rate limits are rules too
(``MAX_ASKS_PER_MIN`` per invite link, ``MAX_VOTES_PER_MIN``): they read the times of the
link's earlier events, so every node decides them the same way.

Views are cut per audience. Staff see everything (notes, e-mail addresses, history);
the room (participants, sites, experts) sees approved, on-air and answered questions
and its own questions' status; the public (``EVERYONE``) sees only the on-air question,
answered questions and posts, without names, e-mail addresses, notes or invites.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

from pydantic import Field

from confsvc.core.conference import (
    EVERYONE,
    Args,
    Audience,
    CommandSpec,
    ConferenceState,
    Message,
    Part,
)
from confsvc.core.errors import BadRequest, InvalidState, NotFound, RateLimited
from confsvc.core.events import Event, NewEvent, Principal
from confsvc.core.floor import on_air_event
from confsvc.core.roles import STAFF, Role

PENDING, APPROVED, ON_AIR, ANSWERED = "pending", "approved", "on_air", "answered"
DEFERRED, REJECTED, MERGED = "deferred", "rejected", "merged"
STATUSES = (PENDING, APPROVED, ON_AIR, ANSWERED, DEFERRED, REJECTED, MERGED)

_KEEP = ("q.edit", "q.tag", "q.pin", "q.note")

# status -> command -> status after it. Anything missing is refused.
TRANSITIONS: dict[str, dict[str, str]] = {
    PENDING: {
        "q.approve": APPROVED,
        "q.reject": REJECTED,
        "q.defer": DEFERRED,
        "q.merge": MERGED,
        **dict.fromkeys(_KEEP, PENDING),
    },
    APPROVED: {
        "q.reject": REJECTED,
        "q.on_air": ON_AIR,
        "q.answer": ANSWERED,
        "q.defer": DEFERRED,
        "q.merge": MERGED,
        "q.vote": APPROVED,
        **dict.fromkeys(_KEEP, APPROVED),
    },
    ON_AIR: {
        "q.off_air": APPROVED,
        "q.answer": ANSWERED,
        "q.defer": DEFERRED,
        "q.vote": ON_AIR,
        **dict.fromkeys(_KEEP, ON_AIR),
    },
    ANSWERED: dict.fromkeys(_KEEP, ANSWERED),
    DEFERRED: dict.fromkeys(_KEEP, DEFERRED),
    REJECTED: {"q.restore": PENDING, "q.note": REJECTED, "q.tag": REJECTED},
    MERGED: {"q.note": MERGED},
}

# Where a merge may land.
MERGE_TARGETS = frozenset({PENDING, APPROVED, ON_AIR})
# What the room (participants, sites, experts) sees of the queue.
SHOWN = frozenset({APPROVED, ON_AIR, ANSWERED})
LANGUAGES = ("zh", "pl", "en", "other")

MAX_TEXT = 1000
MAX_ASKS_PER_MIN = 5
MAX_VOTES_PER_MIN = 30
MAX_IMPORT_ROWS = 500  # an import is one message to each console: ~0.6 MB at most
MAX_PHOTO_BYTES = 2 * 1024 * 1024
PHOTO_TYPES = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}

ASKERS = frozenset({Role.PARTICIPANT, Role.SITE})
ROOM = frozenset({Role.PARTICIPANT, Role.SITE, Role.EXPERT})
STAFF_AUDIENCE = Audience(roles=STAFF)
ROOM_AUDIENCE = Audience(roles=ROOM)

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# -- state ---------------------------------------------------------------------


@dataclass(slots=True)
class Question:
    id: str
    text: str
    language: str
    name: str | None
    site: str | None
    source: str
    email: str | None
    invite: str | None
    asked_at: float
    status: str = PENDING
    prev_status: str = PENDING
    askers: list[str] = field(default_factory=list)  # invites: the asker's and merged ones'
    voters: set[str] = field(default_factory=set)
    tags: list[str] = field(default_factory=list)
    pinned: bool = False
    reason: str | None = None
    answered_by: dict[str, str | None] | None = None
    on_air_at: float | None = None
    answering: str | None = None  # the site answering while on air
    answered_at: float | None = None
    merged_into: str | None = None
    merged_from: list[str] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)  # {at, actor, text}
    notes: list[dict[str, Any]] = field(default_factory=list)  # {at, actor, text}
    history: list[dict[str, Any]] = field(default_factory=list)  # every event, in order

    @property
    def original(self) -> str:
        return cast(str, self.edits[0]["text"]) if self.edits else self.text


@dataclass(slots=True)
class Post:
    id: str
    at: float
    actor: str
    text: str
    photo_type: str | None = None
    photo: str | None = None  # base64; served by the adapter, never put in views


@dataclass(slots=True)
class QuestionsState:
    items: dict[str, Question] = field(default_factory=dict)
    on_air: str | None = None
    posts: list[Post] = field(default_factory=list)
    asks: dict[str, list[float]] = field(default_factory=dict)  # invite -> times
    votes: dict[str, list[float]] = field(default_factory=dict)  # invite -> times

    def next_id(self) -> str:
        return f"q-{len(self.items) + 1}"

    def get(self, qid: str, command: str) -> Question:
        q = self.items.get(qid)
        if q is None:
            raise NotFound(f"{command}: no question {qid!r}")
        return q


def questions(state: ConferenceState) -> QuestionsState:
    return cast(QuestionsState, state.parts["questions"])


# -- helpers -------------------------------------------------------------------


_POLISH_CHARS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
_POLISH_WORDS = {
    "jak", "czy", "nie", "się", "jest", "są", "na", "dla", "co", "przez", "jakie", "ile",
    "w", "z", "do", "i", "oraz", "kiedy", "gdzie", "dlaczego", "pan", "pani", "szpital",
}  # fmt: skip


def guess_language(text: str) -> str:
    """zh, pl, en or other, from the letters of ``text`` (the asker can change it)."""
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    letters = sum(1 for ch in text if ch.isalpha())
    if cjk and cjk * 5 >= letters:
        return "zh"
    if any(ch in _POLISH_CHARS for ch in text):
        return "pl"
    words = re.findall(r"[a-ząćęłńóśźż]+", text.lower())
    if words and sum(1 for w in words if w in _POLISH_WORDS) >= max(2, len(words) // 4):
        return "pl"
    if any("a" <= ch.lower() <= "z" for ch in text):
        return "en"
    return "other"


def _clean_text(text: str, what: str, field_name: str, limit: int = MAX_TEXT) -> str:
    text = text.strip()
    if not text:
        raise BadRequest(f"{what} is empty", field=field_name)
    if len(text) > limit:
        raise BadRequest(
            f"{what} is {len(text)} characters long; at most {limit} are allowed",
            field=field_name,
        )
    if CONTROL.search(text):
        raise BadRequest(f"{what} contains control characters", field=field_name)
    return text


def _clean_optional(text: str | None, what: str, field_name: str, limit: int) -> str | None:
    if text is None or not text.strip():
        return None
    return _clean_text(text, what, field_name, limit)


def _recent(times: list[float], now: float) -> int:
    return sum(1 for t in times if now - t < 60.0)


def _transition(q: Question, command: str) -> str:
    nxt = TRANSITIONS[q.status].get(command)
    if nxt is None:
        if q.status == MERGED:
            raise InvalidState(f"{command}: {q.id} was merged into {q.merged_into}")
        allowed = sorted(s for s, row in TRANSITIONS.items() if command in row)
        raise InvalidState(
            f"{command}: {q.id} is {q.status}; this needs a question that is "
            + " or ".join(allowed)
        )
    return nxt


def _leave_air(state: ConferenceState, q: Question) -> list[NewEvent]:
    return [on_air_event([])] if q.status == ON_AIR else []


# -- commands ------------------------------------------------------------------


Language = Literal["zh", "pl", "en", "other"]


class AskArgs(Args):
    text: str = Field(max_length=4 * MAX_TEXT)
    language: Language | None = None
    name: str | None = Field(default=None, max_length=200)
    site: str | None = Field(default=None, max_length=64)


class IdArgs(Args):
    id: str = Field(max_length=32)


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


class ImportRow(Args):
    line: int = Field(ge=1, le=10 * MAX_IMPORT_ROWS + 1_000)
    text: str = Field(max_length=10 * MAX_TEXT)
    language: str | None = Field(default=None, max_length=32)
    asker: str | None = Field(default=None, max_length=1000)
    site: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=1000)


class ImportArgs(Args):
    rows: list[ImportRow] = Field(min_length=1, max_length=MAX_IMPORT_ROWS)


class PhotoArgs(Args):
    type: str = Field(max_length=32)
    data: str = Field(max_length=(MAX_PHOTO_BYTES * 4) // 3 + 8)


class PostArgs(Args):
    text: str = Field(max_length=8000)
    photo: PhotoArgs | None = None


def _asked(
    state: ConferenceState,
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
    return NewEvent(
        type="q.asked",
        data={
            "id": qid,
            "text": text,
            "language": language,
            "name": name,
            "site": site,
            "source": source,
            "email": email,
            "invite": invite,
        },
    )


def _ask(state: ConferenceState, args: AskArgs, who: Principal, now: float) -> list[NewEvent]:
    qs = questions(state)
    if _recent(qs.asks.get(who.invite, []), now) >= MAX_ASKS_PER_MIN:
        raise RateLimited(
            f"q.ask: at most {MAX_ASKS_PER_MIN} questions a minute from one link; "
            "wait a little and ask again"
        )
    text = _clean_text(args.text, "the question", "args.text")
    name = _clean_optional(args.name, "the name", "args.name", 80)
    site = who.site if who.site is not None else args.site
    if site is not None and state.require_agenda().site(site) is None:
        raise BadRequest(f"q.ask: no site {site!r} in the agenda", field="args.site")
    return [
        _asked(
            state,
            qid=qs.next_id(),
            text=text,
            language=args.language or guess_language(text),
            name=name,  # none: anonymous (the form pre-fills the invite's name)
            site=site,
            source="live",
            email=None,
            invite=who.invite,
        )
    ]


def _vote(state: ConferenceState, args: IdArgs, who: Principal, now: float) -> list[NewEvent]:
    qs = questions(state)
    q = qs.get(args.id, "q.vote")
    if q.status not in SHOWN:  # a pending question is not the voter's business: not found
        raise NotFound(f"q.vote: no question {args.id!r}")
    _transition(q, "q.vote")
    if who.invite in q.voters:
        raise InvalidState(f"q.vote: you have already voted for {q.id}")
    if who.invite in q.askers:
        raise InvalidState(f"q.vote: {q.id} is your own question")
    if _recent(qs.votes.get(who.invite, []), now) >= MAX_VOTES_PER_MIN:
        raise RateLimited(f"q.vote: at most {MAX_VOTES_PER_MIN} votes a minute from one link")
    return [NewEvent(type="q.voted", data={"id": q.id, "invite": who.invite})]


def _simple(command: str, etype: str) -> Any:
    def decide(state: ConferenceState, args: IdArgs, who: Principal, now: float) -> list[NewEvent]:
        q = questions(state).get(args.id, command)
        _transition(q, command)
        return [*_leave_air(state, q), NewEvent(type=etype, data={"id": q.id})]

    return decide


def _reject(state: ConferenceState, args: RejectArgs, who: Principal, now: float) -> list[NewEvent]:
    q = questions(state).get(args.id, "q.reject")
    _transition(q, "q.reject")
    reason = _clean_optional(args.reason, "the reason", "args.reason", 500)
    return [NewEvent(type="q.rejected", data={"id": q.id, "reason": reason})]


def _edit(state: ConferenceState, args: EditArgs, who: Principal, now: float) -> list[NewEvent]:
    q = questions(state).get(args.id, "q.edit")
    _transition(q, "q.edit")
    text = _clean_text(args.text, "the question", "args.text")
    if text == q.text:
        raise InvalidState(f"q.edit: the text of {q.id} is unchanged")
    return [NewEvent(type="q.edited", data={"id": q.id, "text": text})]


def _merge(state: ConferenceState, args: MergeArgs, who: Principal, now: float) -> list[NewEvent]:
    qs = questions(state)
    q = qs.get(args.id, "q.merge")
    _transition(q, "q.merge")
    target = qs.get(args.into, "q.merge")
    if target.id == q.id:
        raise BadRequest("q.merge: a question cannot be merged into itself", field="args.into")
    if target.status not in MERGE_TARGETS:
        raise InvalidState(
            f"q.merge: {target.id} is {target.status}; merge only into a pending, "
            "approved or on-air question"
        )
    return [NewEvent(type="q.merged", data={"id": q.id, "into": target.id})]


TAG = re.compile(r"^[\w-]{1,32}$")


def _tag(state: ConferenceState, args: TagArgs, who: Principal, now: float) -> list[NewEvent]:
    q = questions(state).get(args.id, "q.tag")
    _transition(q, "q.tag")
    tags: list[str] = []
    for tag in args.tags:
        tag = tag.strip().lower()
        if not TAG.match(tag):
            raise BadRequest(
                f"q.tag: tag {tag!r} must be 1-32 letters, digits, '-' or '_'", field="args.tags"
            )
        if tag not in tags:
            tags.append(tag)
    return [NewEvent(type="q.tagged", data={"id": q.id, "tags": tags})]


def _pin(state: ConferenceState, args: PinArgs, who: Principal, now: float) -> list[NewEvent]:
    q = questions(state).get(args.id, "q.pin")
    _transition(q, "q.pin")
    if q.pinned == args.pinned:
        raise InvalidState(f"q.pin: {q.id} is {'pinned' if q.pinned else 'not pinned'} already")
    return [NewEvent(type="q.pinned", data={"id": q.id, "pinned": args.pinned})]


def _note(state: ConferenceState, args: NoteArgs, who: Principal, now: float) -> list[NewEvent]:
    q = questions(state).get(args.id, "q.note")
    _transition(q, "q.note")
    text = _clean_text(args.text, "the note", "args.text", 2000)
    return [NewEvent(type="q.noted", data={"id": q.id, "text": text})]


def _on_air(state: ConferenceState, args: OnAirArgs, who: Principal, now: float) -> list[NewEvent]:
    qs = questions(state)
    q = qs.get(args.id, "q.on_air")
    _transition(q, "q.on_air")
    if qs.on_air is not None:
        raise InvalidState(
            f"q.on_air: {qs.on_air} is on air; mark it answered or take it off air first"
        )
    agenda = state.require_agenda()
    if args.site is not None and agenda.site(args.site) is None:
        raise BadRequest(f"q.on_air: no site {args.site!r} in the agenda", field="args.site")
    sites = {s for s in (q.site, args.site) if s is not None}
    return [
        NewEvent(type="q.on_air", data={"id": q.id, "site": args.site}),
        on_air_event([s for s in agenda.site_ids if s in sites]),
    ]


def _answer(state: ConferenceState, args: AnswerArgs, who: Principal, now: float) -> list[NewEvent]:
    q = questions(state).get(args.id, "q.answer")
    _transition(q, "q.answer")
    agenda = state.require_agenda()
    if args.site is not None and agenda.site(args.site) is None:
        raise BadRequest(f"q.answer: no site {args.site!r} in the agenda", field="args.site")
    if args.expert is not None and all(e.id != args.expert for e in agenda.experts):
        raise BadRequest(f"q.answer: no expert {args.expert!r} in the agenda", field="args.expert")
    return [
        *_leave_air(state, q),
        NewEvent(type="q.answered", data={"id": q.id, "site": args.site, "expert": args.expert}),
    ]


class ImportProblems(BadRequest):
    """Bad rows of an import, each as ``line N: message``; nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:20]) + ("; …" if len(problems) > 20 else "")
        super().__init__(
            f"q.import: {len(problems)} bad row(s), nothing imported: {shown}", field="args.rows"
        )
        self.problems = problems

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "problems": self.problems}


def check_import_rows(state: ConferenceState, rows: list[ImportRow]) -> list[str]:
    """Every problem of every row, as ``line N: message`` (the rows are not imported)."""
    agenda = state.require_agenda()
    problems: list[str] = []
    for row in rows:

        def bad(message: str, row: ImportRow = row) -> None:
            problems.append(f"line {row.line}: {message}")

        text = row.text.strip()
        if not text:
            bad("text is empty")
        elif len(text) > MAX_TEXT:
            bad(f"text is {len(text)} characters long; at most {MAX_TEXT} are allowed")
        elif CONTROL.search(text):
            bad("text contains control characters")
        language = (row.language or "").strip().lower()
        if language and language not in LANGUAGES:
            bad(f"language {row.language!r} is not one of {', '.join(LANGUAGES)}")
        site = (row.site or "").strip()
        if site and agenda.site(site) is None:
            bad(f"site {site!r} is not in the agenda (sites: {', '.join(agenda.site_ids)})")
        email = (row.email or "").strip()
        if email and (len(email) > 254 or not EMAIL.match(email)):
            bad(f"email {email!r} is not an e-mail address")
        asker = (row.asker or "").strip()
        if len(asker) > 80 or CONTROL.search(asker):
            bad("asker must be at most 80 characters, without control characters")
    return problems


def _import(state: ConferenceState, args: ImportArgs, who: Principal, now: float) -> list[NewEvent]:
    problems = check_import_rows(state, args.rows)
    if problems:
        raise ImportProblems(problems)
    qs = questions(state)
    out = []
    for i, row in enumerate(args.rows):
        text = row.text.strip()
        out.append(
            _asked(
                state,
                qid=f"q-{len(qs.items) + 1 + i}",
                text=text,
                language=(row.language or "").strip().lower() or guess_language(text),
                name=(row.asker or "").strip() or None,
                site=(row.site or "").strip() or None,
                source="pre_session",
                email=(row.email or "").strip() or None,
                invite=None,
            )
        )
    ids = [e.data["id"] for e in out]
    return [*out, NewEvent(type="q.imported", data={"ids": ids})]


def _post(state: ConferenceState, args: PostArgs, who: Principal, now: float) -> list[NewEvent]:
    text = _clean_text(args.text, "the post", "args.text", 2000)
    photo: dict[str, str] | None = None
    if args.photo is not None:
        magics = PHOTO_TYPES.get(args.photo.type)
        if magics is None:
            raise BadRequest(
                f"post.publish: photo type {args.photo.type!r} is not one of "
                + ", ".join(PHOTO_TYPES),
                field="args.photo.type",
            )
        try:
            raw = base64.b64decode(args.photo.data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(
                "post.publish: photo data is not base64", field="args.photo.data"
            ) from None
        if len(raw) > MAX_PHOTO_BYTES:
            raise BadRequest(
                f"post.publish: the photo is {len(raw)} bytes; at most {MAX_PHOTO_BYTES}",
                field="args.photo.data",
            )
        if not raw.startswith(magics):
            raise BadRequest(
                f"post.publish: the photo is not a {args.photo.type} image",
                field="args.photo.data",
            )
        photo = {"type": args.photo.type, "data": args.photo.data}
    post_id = f"p-{len(questions(state).posts) + 1}"
    return [NewEvent(type="post.published", data={"id": post_id, "text": text, "photo": photo})]


# -- CSV -----------------------------------------------------------------------

CSV_COLUMNS = ("text", "language", "asker", "site", "email")


def parse_import_csv(raw: bytes) -> tuple[list[ImportRow], list[str]]:
    """Rows of a pre-session CSV (columns text, language, asker, site, email; a header
    row first) and its structural problems by line. Content is checked by the import
    command itself (``check_import_rows``), which also knows the agenda's sites."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [f"line {line}: not UTF-8 text"]
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    rows: list[ImportRow] = []
    header: list[str] | None = None
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [h.strip().lower() for h in record]
                unknown = [h for h in header if h not in CSV_COLUMNS]
                if unknown or "text" not in header or len(set(header)) != len(header):
                    return [], [
                        f"line {line}: the header must name the columns "
                        f"{', '.join(CSV_COLUMNS)} (text is required; got {', '.join(record)})"
                    ]
                continue
            if len(record) != len(header):
                problems.append(f"line {line}: {len(record)} fields; the header has {len(header)}")
                continue
            cells = dict(zip(header, record, strict=True))
            if len(cells.get("text", "")) > 10 * MAX_TEXT:
                problems.append(f"line {line}: text is far too long")
                continue
            rows.append(
                ImportRow(
                    line=line,
                    text=cells.get("text", ""),
                    language=cells.get("language") or None,
                    asker=(cells.get("asker") or None) and cells["asker"][:1000],
                    site=(cells.get("site") or None) and cells["site"][:200],
                    email=(cells.get("email") or None) and cells["email"][:1000],
                )
            )
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: {exc}")
    if header is None and not problems:
        problems.append("line 1: the file is empty; it needs a header row and questions")
    elif not rows and not problems:
        problems.append(f"line {start}: there are no questions after the header")
    if len(rows) > MAX_IMPORT_ROWS:
        problems.append(f"line {rows[MAX_IMPORT_ROWS].line}: at most {MAX_IMPORT_ROWS} rows")
    return rows, problems


# -- fold ----------------------------------------------------------------------


def _record(q: Question, event: Event) -> None:
    q.history.append(
        {"seq": event.seq, "at": event.at, "actor": event.actor, "type": event.type,
         "data": {k: v for k, v in event.data.items() if k != "id"}}
    )  # fmt: skip


def _set_status(q: Question, status: str) -> None:
    q.prev_status, q.status = q.status, status


def _on_asked(state: ConferenceState, event: Event) -> None:
    qs = questions(state)
    d = event.data
    q = Question(
        id=d["id"],
        text=d["text"],
        language=d["language"],
        name=d.get("name"),
        site=d.get("site"),
        source=d.get("source", "live"),
        email=d.get("email"),
        invite=d.get("invite"),
        asked_at=event.at,
    )
    if q.invite is not None:
        q.askers.append(q.invite)
        times = qs.asks.setdefault(q.invite, [])
        times.append(event.at)
        del times[:-MAX_ASKS_PER_MIN]
    qs.items[q.id] = q
    _record(q, event)


def _question(state: ConferenceState, event: Event) -> Question:
    q = questions(state).items[event.data["id"]]
    q.prev_status = q.status
    _record(q, event)
    return q


def _on_approved(state: ConferenceState, event: Event) -> None:
    _set_status(_question(state, event), APPROVED)


def _on_rejected(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    _set_status(q, REJECTED)
    q.reason = event.data.get("reason")


def _on_restored(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    _set_status(q, PENDING)
    q.reason = None


def _off_air(state: ConferenceState, q: Question) -> None:
    qs = questions(state)
    if qs.on_air == q.id:
        qs.on_air = None


def _on_on_air(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    _set_status(q, ON_AIR)
    q.on_air_at = event.at
    q.answering = event.data.get("site")
    questions(state).on_air = q.id


def _on_off_air(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    _set_status(q, APPROVED)
    _off_air(state, q)


def _on_answered(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    _set_status(q, ANSWERED)
    q.answered_at = event.at
    q.answered_by = {"site": event.data.get("site"), "expert": event.data.get("expert")}
    _off_air(state, q)


def _on_deferred(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    _set_status(q, DEFERRED)
    _off_air(state, q)


def _on_merged(state: ConferenceState, event: Event) -> None:
    qs = questions(state)
    q = _question(state, event)
    target = qs.items[event.data["into"]]
    target.prev_status = target.status
    _set_status(q, MERGED)
    q.merged_into = target.id
    target.merged_from.append(q.id)
    target.voters |= q.voters
    for invite in q.askers:
        if invite not in target.askers:
            target.askers.append(invite)
    _record(target, event)
    _off_air(state, q)


def _on_edited(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    if not q.edits:
        q.edits.append({"at": q.asked_at, "actor": "asker", "text": q.text})
    q.edits.append({"at": event.at, "actor": event.actor, "text": event.data["text"]})
    q.text = event.data["text"]


def _on_tagged(state: ConferenceState, event: Event) -> None:
    _question(state, event).tags = list(event.data["tags"])


def _on_pinned(state: ConferenceState, event: Event) -> None:
    _question(state, event).pinned = bool(event.data["pinned"])


def _on_noted(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    q.notes.append({"at": event.at, "actor": event.actor, "text": event.data["text"]})


def _on_voted(state: ConferenceState, event: Event) -> None:
    q = _question(state, event)
    invite = event.data["invite"]
    q.voters.add(invite)
    times = questions(state).votes.setdefault(invite, [])
    times.append(event.at)
    del times[:-MAX_VOTES_PER_MIN]


def _on_post(state: ConferenceState, event: Event) -> None:
    d = event.data
    photo = d.get("photo") or {}
    questions(state).posts.append(
        Post(
            id=d["id"],
            at=event.at,
            actor=event.actor,
            text=d["text"],
            photo_type=photo.get("type"),
            photo=photo.get("data"),
        )
    )


# -- views ---------------------------------------------------------------------


def public_view(q: Question) -> dict[str, Any]:
    """What anyone may see of an on-air or answered question (no name, e-mail or notes)."""
    return {
        "id": q.id,
        "status": q.status,
        "text": q.text,
        "language": q.language,
        "site": q.site,
        "votes": len(q.voters),
        "answering": q.answering,
        "answered_by": q.answered_by,
        "on_air_at": q.on_air_at,
        "answered_at": q.answered_at,
    }


def room_view(q: Question) -> dict[str, Any]:
    """What participants, sites and experts see of an approved question."""
    return {**public_view(q), "name": q.name, "tags": q.tags, "pinned": q.pinned}


def own_view(q: Question) -> dict[str, Any]:
    """What an asker sees of their own question, whatever its status."""
    return {
        **room_view(q),
        "reason": q.reason,
        "merged_into": q.merged_into,
        "asked_at": q.asked_at,
    }


def staff_view(q: Question) -> dict[str, Any]:
    """Everything about a question: for hosts, moderators and the exports."""
    return {
        **own_view(q),
        "source": q.source,
        "email": q.email,
        "askers": len(q.askers),
        "original": q.original,
        "edits": q.edits,
        "notes": q.notes,
        "merged_from": q.merged_from,
        "history": q.history,
    }


def post_view(p: Post) -> dict[str, Any]:
    return {"id": p.id, "at": p.at, "text": p.text, "photo": p.photo_type is not None}


def live_view(state: ConferenceState) -> dict[str, Any]:
    """The public page's part: the on-air question, answered questions, posts."""
    qs = questions(state)
    answered = sorted(
        (q for q in qs.items.values() if q.status == ANSWERED),
        key=lambda q: q.answered_at or 0.0,
        reverse=True,
    )
    on_air = qs.items[qs.on_air] if qs.on_air is not None else None
    return {
        "on_air": public_view(on_air) if on_air is not None else None,
        "answered": [public_view(q) for q in answered],
        "posts": [post_view(p) for p in reversed(qs.posts)],
    }


def _snapshot(state: ConferenceState, who: Principal, now: float) -> dict[str, Any] | None:
    if not state.exists:
        return None
    qs = questions(state)
    view = live_view(state)
    if who.role in STAFF or who.role is Role.SYSTEM:
        view["items"] = [staff_view(q) for q in qs.items.values()]
        view["staff"] = True
        return view
    if who.role is Role.PUBLIC:
        return view
    view["items"] = [room_view(q) for q in qs.items.values() if q.status in SHOWN]
    view["mine"] = [own_view(q) for q in qs.items.values() if who.invite in q.askers]
    view["voted"] = [q.id for q in qs.items.values() if who.invite in q.voters]
    view["can_ask"] = who.role in ASKERS
    return view


def _messages(state: ConferenceState, event: Event) -> list[Message]:
    if event.type == "post.published":
        post = questions(state).posts[-1]
        return [Message(audience=EVERYONE, payload={"type": "post", "post": post_view(post)})]
    if not event.type.startswith("q."):
        return []
    qs = questions(state)
    # An import is one message to each console (q.imported closes it), not one a row.
    if event.type == "q.imported":
        items = [staff_view(qs.items[qid]) for qid in event.data["ids"]]
        return [Message(audience=STAFF_AUDIENCE, payload={"type": "q.batch", "items": items})]
    if event.type == "q.asked" and event.data.get("source") == "pre_session":
        return []
    ids = [event.data["id"]]
    if event.type == "q.merged":
        ids.append(event.data["into"])
    out: list[Message] = []
    live = False
    for qid in ids:
        q = qs.items[qid]
        out.append(
            Message(audience=STAFF_AUDIENCE, payload={"type": "q.item", "item": staff_view(q)})
        )
        for invite in q.askers:
            out.append(
                Message(
                    audience=Audience(invite=invite),
                    payload={"type": "q.mine", "item": own_view(q)},
                )
            )
        if q.status in SHOWN:
            out.append(
                Message(audience=ROOM_AUDIENCE, payload={"type": "q.shown", "item": room_view(q)})
            )
        elif q.prev_status in SHOWN:
            out.append(Message(audience=ROOM_AUDIENCE, payload={"type": "q.hidden", "id": q.id}))
        if {q.status, q.prev_status} & {ON_AIR, ANSWERED}:
            live = True
    if event.type == "q.voted":
        voter = Audience(invite=event.data["invite"])
        out.append(Message(audience=voter, payload={"type": "q.voted", "id": event.data["id"]}))
    if live:
        out.append(
            Message(
                audience=EVERYONE, payload={"type": "q.live", **live_view(state)}, coalesce=True
            )
        )
    return out


STAFF_ONLY = STAFF


def _spec(args: type[Args], decide: Any, doc: str, roles: frozenset[Role] = STAFF) -> CommandSpec:
    return CommandSpec(roles=roles, args=args, decide=decide, doc=doc)


PART = Part(
    name="questions",
    init=QuestionsState,
    commands={
        "q.ask": _spec(AskArgs, _ask, "Ask a question (participants and sites).", ASKERS),
        "q.vote": _spec(IdArgs, _vote, "Upvote an approved question, once.", ASKERS),
        "q.approve": _spec(IdArgs, _simple("q.approve", "q.approved"), "Approve a question."),
        "q.reject": _spec(RejectArgs, _reject, "Reject a question, with an optional reason."),
        "q.restore": _spec(
            IdArgs, _simple("q.restore", "q.restored"), "Bring back a rejected one."
        ),
        "q.edit": _spec(EditArgs, _edit, "Edit a question's text (every version is kept)."),
        "q.merge": _spec(MergeArgs, _merge, "Merge a duplicate into another question."),
        "q.tag": _spec(TagArgs, _tag, "Set a question's tags."),
        "q.pin": _spec(PinArgs, _pin, "Pin or unpin a question."),
        "q.note": _spec(NoteArgs, _note, "Add a private moderator note."),
        "q.on_air": _spec(OnAirArgs, _on_air, "Put an approved question on air (one at a time)."),
        "q.off_air": _spec(
            IdArgs, _simple("q.off_air", "q.off_air"), "Take it off air, unanswered."
        ),
        "q.answer": _spec(
            AnswerArgs, _answer, "Mark a question answered live, by a site or expert."
        ),
        "q.defer": _spec(IdArgs, _simple("q.defer", "q.deferred"), "Defer to a written answer."),
        "q.import": _spec(ImportArgs, _import, "Import pre-session questions (all or none)."),
        "post.publish": _spec(PostArgs, _post, "Publish a live text post, with an optional photo."),
    },
    reducers={
        "q.asked": _on_asked,
        "q.approved": _on_approved,
        "q.rejected": _on_rejected,
        "q.restored": _on_restored,
        "q.on_air": _on_on_air,
        "q.off_air": _on_off_air,
        "q.answered": _on_answered,
        "q.deferred": _on_deferred,
        "q.merged": _on_merged,
        "q.edited": _on_edited,
        "q.tagged": _on_tagged,
        "q.pinned": _on_pinned,
        "q.noted": _on_noted,
        "q.voted": _on_voted,
        "post.published": _on_post,
    },
    snapshot=_snapshot,
    messages=_messages,
)
