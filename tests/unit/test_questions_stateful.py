"""Hypothesis: the question queue against a tiny model of statuses, on-air and votes."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from confsvc.core import questions as qmod
from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import created_event
from confsvc.core.errors import DomainError
from confsvc.core.events import Command, Event, Principal
from confsvc.core.floor import floor_state
from confsvc.core.registry import RULES
from confsvc.core.roles import Role
from tests.conftest import SAMPLE

AGENDA = parse_agenda(SAMPLE.read_bytes())
MOD = Principal(role=Role.MODERATOR, invite="mod")
HOST = Principal(role=Role.HOST, invite="host")
PEOPLE = [Principal(role=Role.PARTICIPANT, invite=f"p{i}") for i in range(4)]
people = st.sampled_from(PEOPLE)
qids = st.integers(min_value=1, max_value=8).map(lambda n: f"q-{n}")

# The model's rule book: command -> statuses it applies to -> status after it.
MOVES = {
    "q.approve": {"pending": "approved"},
    "q.reject": {"pending": "rejected", "approved": "rejected"},
    "q.restore": {"rejected": "pending"},
    "q.on_air": {"approved": "on_air"},
    "q.off_air": {"on_air": "approved"},
    "q.answer": {"approved": "answered", "on_air": "answered"},
    "q.defer": {"pending": "deferred", "approved": "deferred", "on_air": "deferred"},
}


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = RULES.new_state(AGENDA.conference.id)
        self.now = 1_000_000.0
        self._fold([created_event(AGENDA)])
        self._do(HOST, "ros.start")
        # The model.
        self.status: dict[str, str] = {}
        self.askers: dict[str, set[str]] = {}
        self.voters: dict[str, set[str]] = {}
        self.on_air: str | None = None

    def _fold(self, new: list[Any]) -> None:
        for e in new:
            RULES.fold(
                self.state,
                Event(seq=self.state.seq + 1, type=e.type, at=self.now, actor="x", data=e.data),
            )

    def _do(self, who: Principal, name: str, **args: Any) -> bool:
        items = qmod.questions(self.state).items
        before = {qid: q.status for qid, q in items.items()}
        try:
            new = RULES.decide(self.state, who, Command(name=name, args=args), self.now)
        except DomainError:
            return False
        self._fold(new)
        # One table drives both: the status after every command is the table's "after"
        # for that status and command, and no other question moved (a merge target keeps
        # its status).
        moved = args.get("id")
        if moved is not None:
            assert items[moved].status == qmod.TRANSITIONS[before[moved]][name]
        assert {qid: q.status for qid, q in items.items() if qid != moved} == {
            qid: status for qid, status in before.items() if qid != moved
        } | ({f"q-{len(items)}": "pending"} if name == "q.ask" else {})
        return True

    @rule(who=people)
    def ask(self, who: Principal) -> None:
        self.now += 13  # 5 a minute at most: this pace never trips the limit
        assert self._do(who, "q.ask", text="a question?")
        qid = f"q-{len(self.status) + 1}"
        self.status[qid] = "pending"
        self.askers[qid] = {who.invite}
        self.voters[qid] = set()

    @rule(command=st.sampled_from(sorted(MOVES)), qid=qids)
    def move(self, command: str, qid: str) -> None:
        status = self.status.get(qid)
        expect = status in MOVES[command]
        if command == "q.on_air":
            expect = expect and self.on_air is None
        assert self._do(MOD, command, id=qid) == expect
        if not expect:
            return
        assert status is not None
        self.status[qid] = MOVES[command][status]
        if self.status[qid] == "on_air":
            self.on_air = qid
        elif self.on_air == qid:
            self.on_air = None

    @rule(who=people, qid=qids)
    def vote(self, who: Principal, qid: str) -> None:
        self.now += 3
        expect = (
            self.status.get(qid) in ("approved", "on_air")
            and who.invite not in self.voters[qid]
            and who.invite not in self.askers[qid]
        )
        assert self._do(who, "q.vote", id=qid) == expect
        if expect:
            self.voters[qid].add(who.invite)

    @rule(qid=qids, into=qids)
    def merge(self, qid: str, into: str) -> None:
        expect = (
            self.status.get(qid) in ("pending", "approved")
            and self.status.get(into) in ("pending", "approved", "on_air")
            and qid != into
        )
        assert self._do(MOD, "q.merge", id=qid, into=into) == expect
        if expect:
            self.status[qid] = "merged"
            self.voters[into] |= self.voters[qid]
            self.askers[into] |= self.askers[qid]

    @rule(qid=qids, text=st.sampled_from(["edited", "  ", "edited again"]))
    def edit(self, qid: str, text: str) -> None:
        q = qmod.questions(self.state).items.get(qid)
        expect = (
            q is not None
            and q.status not in ("merged", "rejected")
            and text.strip() != ""
            and text != q.text
        )
        before = len(q.edits) if q is not None else 0
        assert self._do(MOD, "q.edit", id=qid, text=text) == expect
        if expect:
            assert q is not None
            assert len(q.edits) == (before + 2 if before == 0 else before + 1)
            assert q.edits[0]["text"] == "a question?"

    @rule(qid=qids, command=st.sampled_from(["q.tag", "q.pin", "q.note"]), pinned=st.booleans())
    def keep(self, qid: str, command: str, pinned: bool) -> None:
        q = qmod.questions(self.state).items.get(qid)
        status = self.status.get(qid)
        # The model: notes go on any question, tags on any but merged ones, pins on
        # neither rejected nor merged ones (and only when they change something).
        expect = {
            "q.note": status is not None,
            "q.tag": status not in (None, "merged"),
            "q.pin": status not in (None, "merged", "rejected")
            and q is not None
            and q.pinned != pinned,
        }[command]
        args = {"q.tag": {"tags": ["t"]}, "q.pin": {"pinned": pinned}, "q.note": {"text": "n"}}
        assert self._do(MOD, command, id=qid, **args[command]) == expect

    @invariant()
    def statuses_match(self) -> None:
        items = qmod.questions(self.state).items
        assert {qid: q.status for qid, q in items.items()} == self.status

    @invariant()
    def one_on_air_and_the_floor_follows(self) -> None:
        qs = qmod.questions(self.state)
        assert qs.on_air == self.on_air
        assert [q.id for q in qs.items.values() if q.status == "on_air"] == (
            [self.on_air] if self.on_air else []
        )
        if self.on_air is None:
            assert floor_state(self.state).on_air == []

    @invariant()
    def votes_and_askers_match(self) -> None:
        for qid, q in qmod.questions(self.state).items.items():
            assert q.voters == self.voters[qid]
            assert set(q.askers) == self.askers[qid]


QueueMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestQueue = QueueMachine.TestCase
