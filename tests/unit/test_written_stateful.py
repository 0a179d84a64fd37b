"""Hypothesis drives the written-answer rules with random commands and mail results and
checks them against a tiny model after every step."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from confsvc.core import written as W
from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import created_event
from confsvc.core.errors import DomainError
from confsvc.core.events import SYSTEM, Command, Event, NewEvent, Principal
from confsvc.core.registry import RULES
from confsvc.core.roles import Role
from tests.conftest import SAMPLE

AGENDA = parse_agenda(SAMPLE.read_bytes())
EXPERTS = [e.id for e in AGENDA.experts]
MOD = Principal(role=Role.MODERATOR, invite="m")
IDS = [f"q-{i}" for i in range(1, 5)]

# What the model expects from each accepted step, by status (the same rules, said plainly).
MOVES = {
    "assign": {"open": "assigned", "assigned": "assigned", "sent": "assigned"},
    "sent": {"assigned": "sent"},
    "reply": {
        "open": "answered",
        "assigned": "answered",
        "sent": "answered",
        "answered": "answered",
        "reviewed": "reviewed",
        "published": "published",
    },
    "review": {"answered": "reviewed", "reviewed": "reviewed", "published": "published"},
    "publish": {"answered": "published", "reviewed": "published"},
}


class WrittenLife(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.state = RULES.new_state(AGENDA.conference.id)
        self.now = 1_700_000_000.0
        self.model: dict[str, str] = {}
        self.gone: set[str] = set()
        self.replies: dict[str, int] = {}
        self.blank: dict[str, bool] = {}  # the latest reply is only white space
        self._append([created_event(AGENDA)], SYSTEM)
        for qid in IDS[:2]:  # two pre-session questions from the start, the rest asked live
            self.ask(qid, True)

    def _append(self, new: list[NewEvent], who: Principal) -> None:
        for e in new:
            ev = Event(
                seq=self.state.seq + 1, type=e.type, at=self.now, actor=who.actor, data=e.data
            )
            RULES.fold(self.state, ev)

    def _run(self, name: str, **args: Any) -> bool:
        try:
            new = RULES.decide(self.state, MOD, Command(name=name, args=args), self.now)
        except DomainError:
            return False
        self._append(new, MOD)
        return True

    def _expect(self, move: str, qid: str, accepted: bool) -> None:
        before = self.model.get(qid)
        allowed = qid not in self.gone and before is not None and before in MOVES[move]
        assert accepted == allowed, (move, qid, before, accepted)
        if accepted and before is not None:
            self.model[qid] = MOVES[move][before]

    @rule(qid=st.sampled_from(IDS), pre=st.booleans())
    def ask(self, qid: str, pre: bool) -> None:
        if qid in W.by_id(self.state):
            return
        data = {
            "id": qid,
            "text": "Quarantine?",
            "language": "pl",
            "name": None,
            "site": None,
            "source": "pre_session" if pre else "live",
            "email": None,
            "invite": None,
        }
        self._append([NewEvent(type="q.asked", data=data)], SYSTEM)
        if pre:
            self.model[qid] = "open"

    @rule(qid=st.sampled_from(IDS))
    def defer(self, qid: str) -> None:
        if qid in W.by_id(self.state) and qid not in self.model:
            self._append([NewEvent(type="q.deferred", data={"id": qid})], SYSTEM)
            self.model[qid] = "open"

    @rule(qid=st.sampled_from(IDS))
    def reject(self, qid: str) -> None:
        if qid in self.model:
            self._append([NewEvent(type="q.rejected", data={"id": qid, "reason": None})], SYSTEM)
            self.gone.add(qid)

    @rule(qid=st.sampled_from(IDS), expert=st.sampled_from([*EXPERTS, "nobody"]))
    def assign(self, qid: str, expert: str) -> None:
        ok = self._run("written.assign", question=qid, expert=expert, due=self.now + 86400)
        if expert == "nobody":
            assert not ok
            return
        self._expect("assign", qid, ok)

    @rule(qid=st.sampled_from(IDS))
    def mail_sent(self, qid: str) -> None:
        if qid in self.model and qid not in self.gone:
            self._append(
                [NewEvent(type="written.mail_sent", data={"question": qid, "kind": "assignment"})],
                SYSTEM,
            )
            if self.model[qid] == "assigned":
                self.model[qid] = "sent"

    @rule(qid=st.sampled_from(IDS), text=st.text(min_size=1, max_size=20))
    def reply(self, qid: str, text: str) -> None:
        expert = (
            W.experts(self.state).get(W.by_id(self.state)[qid].expert or "")
            if qid in W.by_id(self.state)
            else None
        )
        sender = expert.email if expert else "x@example.org"
        got, _why = W.classify_reply(
            self.state, question=qid, how="address", sender=sender, auto=False
        )
        if got is None:
            return
        self._append(
            [
                NewEvent(
                    type="written.mail_received",
                    data={
                        "message_id": f"<{self.state.seq}@x>",
                        "from": sender,
                        "text": text,
                        "question": qid,
                        "reason": None,
                    },
                )
            ],
            SYSTEM,
        )
        self.replies[qid] = self.replies.get(qid, 0) + 1
        self.blank[qid] = not text.strip()
        self._expect("reply", qid, True)

    @rule(qid=st.sampled_from(IDS), text=st.text(min_size=1, max_size=20))
    def review(self, qid: str, text: str) -> None:
        self._expect("review", qid, self._run("written.review", question=qid, text=text))

    @rule(qid=st.sampled_from(IDS))
    def publish(self, qid: str) -> None:
        ok = self._run("written.publish", question=qid)
        if self.model.get(qid) == "answered" and self.blank.get(qid):
            assert (
                not ok
            )  # publishing without a text takes the latest reply: a blank one is refused
            return
        self._expect("publish", qid, ok)

    @rule(hours=st.integers(min_value=1, max_value=96))
    def time_passes(self, hours: int) -> None:
        self.now += hours * 3600
        self._append(W.due_reminders(self.state, self.now), SYSTEM)

    @invariant()
    def statuses_match_the_model(self) -> None:
        if not hasattr(self, "state"):
            return
        live = {q.id: q.status for q in W.written(self.state)}
        assert live == {k: v for k, v in self.model.items() if k not in self.gone}

    @invariant()
    def counts_add_up_and_paths_end_in_the_status(self) -> None:
        if not hasattr(self, "state"):
            return
        counts = W.view_counts(self.state, self.now)
        assert sum(counts[s] for s in W.STATUSES) == counts["total"] == len(W.written(self.state))
        for q in W.written(self.state):
            assert q.path[-1][0] == q.status
            assert len(q.replies) == self.replies.get(q.id, 0)
            if q.status == "published":
                assert q.answer is not None and q.published_at is not None
            assert q.overdue(self.now) == (
                q.status in ("assigned", "sent") and self.now > (q.due or 0)
            )

    @invariant()
    def public_view_holds_only_published(self) -> None:
        if not hasattr(self, "state"):
            return
        ids = [p["id"] for p in W.public_view(self.state)["published"]]
        assert sorted(ids) == sorted(
            k for k, v in self.model.items() if v == "published" and k not in self.gone
        )


TestWrittenLife = WrittenLife.TestCase
TestWrittenLife.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
