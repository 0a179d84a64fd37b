"""A scripted session on an agenda, in memory: the agenda run through with pauses and an
extension, live questions asked, approved, put on air and answered, pre-session questions
imported, questions deferred and answered in writing, one left open.

Used by the report's tests and by ``confsvc report --scripted`` to show a full report
without running a conference. Sans-IO: the clock is a number that the script advances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confsvc.core import written as W
from confsvc.core.agenda import Agenda
from confsvc.core.conference import ConferenceState, created_event
from confsvc.core.events import Command, Event, NewEvent, Principal
from confsvc.core.registry import RULES
from confsvc.core.roles import Role

HOST = Principal(role=Role.HOST, invite="host1")
MODERATOR = Principal(role=Role.MODERATOR, invite="mod1")


@dataclass
class Session:
    agenda: Agenda
    now: float
    state: ConferenceState = field(init=False)
    log: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = RULES.new_state(self.agenda.conference.id)
        self.append(Principal(role=Role.SYSTEM, invite="system"), [created_event(self.agenda)])

    def append(self, who: Principal, new: list[NewEvent]) -> list[Event]:
        out = []
        for e in new:
            event = Event(
                seq=self.state.seq + 1, type=e.type, at=self.now, actor=who.actor, data=e.data
            )
            RULES.fold(self.state, event)
            self.log.append(event)
            out.append(event)
        return out

    def do(self, who: Principal, name: str, **args: Any) -> list[Event]:
        return self.append(
            who, RULES.decide(self.state, who, Command(name=name, args=args), self.now)
        )

    def wait(self, seconds: float) -> None:
        self.now += seconds


def participant(site: str | None, n: int) -> Principal:
    if site is None:
        return Principal(role=Role.PARTICIPANT, invite=f"p{n}")
    return Principal(role=Role.SITE, invite=f"site-{site}-{n}", site=site)


# (text, language, asking site) — in the spirit of the event's questions.
LIVE_QUESTIONS = [
    ("How did Weifang organise testing in residential communities?", "en", "olsztyn"),
    ("Jak zorganizowano izolację osób z kontaktu w szpitalach?", "pl", "olsztyn"),
    ("医护人员的防护装备是如何分配的？", "zh", "weifang"),
    ("What was the role of volunteers in quarantine checks?", "en", "olsztyn"),
]
PRE_SESSION = [
    (
        "Jakie testy stosowano w szkołach przed ich ponownym otwarciem?",
        "pl",
        "olsztyn",
        "a@olsztyn.example.org",
    ),
    ("How were fever clinics separated from the rest of the hospital?", "en", "olsztyn", None),
]


def run(agenda: Agenda, start: float | None = None) -> Session:
    """Run the whole agenda with questions; the result is at the end of the session."""
    s = Session(
        agenda=agenda, now=start if start is not None else agenda.conference.start.timestamp()
    )
    s.do(HOST, "ros.start")
    rows = [
        {"line": n + 2, "text": t, "language": lang, "asker": None, "site": site, "email": email}
        for n, (t, lang, site, email) in enumerate(PRE_SESSION)
    ]
    s.do(MODERATOR, "q.import", rows=rows)
    qa_index = next((i for i, it in enumerate(agenda.items) if it.kind == "qa"), None)
    for i, item in enumerate(agenda.items):
        planned = item.minutes * 60.0
        if i == 1:
            s.wait(planned * 0.5)
            s.do(HOST, "ros.pause")
            s.wait(120)
            s.do(HOST, "ros.resume")
            s.wait(planned * 0.5)
        elif i == 2:
            s.do(HOST, "ros.extend", minutes=2)
            s.wait(planned + 180)  # one minute past the extension
        elif i == qa_index:
            began = s.now
            s.wait(30)
            _live_questions(s, agenda)
            s.wait(max(0.0, planned - (s.now - began)))
        else:
            s.wait(planned)
        if i + 1 < len(agenda.items):
            s.do(HOST, "ros.next")
    s.do(HOST, "ros.end")
    _written_answers(s, agenda)
    return s


def _live_questions(s: Session, agenda: Agenda) -> None:
    sites = set(agenda.site_ids)
    ids = []
    for n, (text, lang, site) in enumerate(LIVE_QUESTIONS):
        who = participant(site if site in sites else None, n)
        ids.append(s.do(who, "q.ask", text=text, language=lang)[0].data["id"])
    answering = agenda.items[-1].floor[-1] if agenda.items[-1].floor else None
    for qid in ids[:2]:
        s.do(MODERATOR, "q.approve", id=qid)
        s.do(MODERATOR, "q.on_air", id=qid, site=answering)
        s.wait(90)
        s.do(MODERATOR, "q.answer", id=qid, site=answering)
    s.do(MODERATOR, "q.approve", id=ids[2])
    s.do(MODERATOR, "q.defer", id=ids[2])
    s.do(MODERATOR, "q.reject", id=ids[3], reason="asked before")


def _written_answers(s: Session, agenda: Agenda) -> None:
    """Assign every written question to the first expert; all but the last get answered."""
    if not agenda.experts:
        return
    expert = agenda.experts[0]
    who = Principal(role=Role.EXPERT, invite="exp1", expert=expert.id)
    written = [q.id for q in W.written(s.state)]
    for n, qid in enumerate(written):
        s.do(MODERATOR, "written.assign", question=qid, expert=expert.id, due=s.now + 7 * 86400)
        if n == len(written) - 1:
            break  # the last one stays open
        s.wait(3600)
        text = f"Written answer to {qid} from {expert.name}."
        s.do(who, "written.answer", question=qid, text=text)
        s.do(MODERATOR, "written.review", question=qid, text=text)
        s.do(MODERATOR, "written.publish", question=qid)
