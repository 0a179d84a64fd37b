"""Written-answer rules (confsvc.core.written), without I/O: commands, fold, decisions."""

from __future__ import annotations

from typing import Any

import pytest

from confsvc.core import written as W
from confsvc.core.conference import ConferenceState, created_event
from confsvc.core.errors import BadRequest, Forbidden, InvalidState, NotFound
from confsvc.core.events import SYSTEM, Command, Event, NewEvent, Principal
from confsvc.core.questions import question
from confsvc.core.registry import RULES
from confsvc.core.roles import Role

T0 = 1_700_000_000.0
DAY = 86400.0
MOD = Principal(role=Role.MODERATOR, invite="mod1")
EPI = "weifang-health-epidemiology"
HOSP = "weifang-health-hospitals"


class World:
    def __init__(self, agenda: Any) -> None:
        self.state: ConferenceState = RULES.new_state(agenda.conference.id)
        self.now = T0
        self.append([created_event(agenda)])

    def append(self, new: list[NewEvent], who: Principal = SYSTEM) -> list[Event]:
        out = []
        for e in new:
            ev = Event(
                seq=self.state.seq + 1, type=e.type, at=self.now, actor=who.actor, data=e.data
            )
            RULES.fold(self.state, ev)
            out.append(ev)
        return out

    def run(self, who: Principal, cmd: str, /, **args: Any) -> list[Event]:
        return self.append(
            RULES.decide(self.state, who, Command(name=cmd, args=args), self.now), who
        )

    def ask(self, qid: str, text: str = "How do you trace contacts?", **kw: Any) -> None:
        data = {
            "id": qid,
            "text": text,
            "language": kw.pop("language", "pl"),
            "name": "Anna",
            "site": "olsztyn",
            "source": kw.pop("source", "live"),
            "email": kw.pop("email", None),
            "invite": None,
            **kw,
        }
        self.append([NewEvent(type="q.asked", data=data)])

    def q(self, qid: str) -> W.WrittenQuestion:
        return W.by_id(self.state)[qid]


@pytest.fixture
def w(sample_agenda: Any) -> World:
    return World(sample_agenda)


def test_only_deferred_and_pre_session_questions_are_written(w: World) -> None:
    w.ask("q-1")
    w.ask("q-2", source="pre_session")
    w.ask("q-3")
    w.append([NewEvent(type="q.deferred", data={"id": "q-3"})])
    w.ask("q-4", source="pre_session")
    w.append([NewEvent(type="q.rejected", data={"id": "q-4", "reason": None})])
    w.ask("q-5")
    w.append([NewEvent(type="q.deferred", data={"id": "q-5"})])
    w.append([NewEvent(type="q.merged", data={"id": "q-5", "into": "q-3"})])
    assert [q.id for q in W.written(w.state)] == ["q-2", "q-3"]
    w.append([NewEvent(type="q.restored", data={"id": "q-4"})])
    assert [q.id for q in W.written(w.state)] == ["q-2", "q-3", "q-4"]
    with pytest.raises(NotFound, match="q-1"):
        w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)


def test_written_questions_come_in_the_order_asked_not_the_order_deferred(w: World) -> None:
    for i in range(1, 6):
        w.ask(f"q-{i}")
    w.append([NewEvent(type="q.deferred", data={"id": "q-4"})])
    w.ask("q-6", source="pre_session")
    w.append([NewEvent(type="q.deferred", data={"id": "q-2"})])
    assert [q.id for q in W.written(w.state)] == ["q-2", "q-4", "q-6"]
    # The index holds those three, in the order they came to be written.
    assert list(W.written_state(w.state).maybe) == ["q-4", "q-6", "q-2"]
    assert W.view_counts(w.state, w.now)["total"] == 3


def test_a_deferred_question_opens_when_it_is_deferred_not_when_asked(w: World) -> None:
    w.ask("q-1")
    w.ask("q-2", source="pre_session")
    w.now += 600
    w.append([NewEvent(type="q.deferred", data={"id": "q-1"})])
    w.append([NewEvent(type="q.deferred", data={"id": "q-2"})])
    assert w.q("q-1").path == [("open", T0 + 600)]
    assert w.q("q-2").path == [("open", T0)]  # written from the start: open since asked


def test_full_life_assigned_sent_answered_reviewed_published(w: World) -> None:
    w.ask("q-1", source="pre_session", email="anna@example.org")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + 3 * DAY)
    assert (w.q("q-1").status, w.q("q-1").expert) == ("assigned", EPI)
    w.append([NewEvent(type="written.mail_sent", data={"question": "q-1", "kind": "assignment"})])
    assert w.q("q-1").status == "sent"
    w.append(
        [NewEvent(type="written.replied", data={"question": "q-1", "from": "x", "text": "A1"})]
    )
    w.append(
        [NewEvent(type="written.replied", data={"question": "q-1", "from": "x", "text": "A2"})]
    )
    assert w.q("q-1").status == "answered"
    assert [r.text for r in w.q("q-1").replies] == ["A1", "A2"]
    w.run(MOD, "written.review", question="q-1", text="A2, edited")
    w.run(MOD, "written.publish", question="q-1")
    q = w.q("q-1")
    assert (q.status, q.answer) == ("published", "A2, edited")
    assert [r.text for r in q.replies] == ["A1", "A2"]  # the originals are kept
    assert [s for s, _ in q.path] == [
        "open",
        "assigned",
        "sent",
        "answered",
        "reviewed",
        "published",
    ]
    pub = W.public_view(w.state)["published"]
    assert [(p["id"], p["answer"]) for p in pub] == [("q-1", "A2, edited")]
    assert "anna@example.org" not in repr(pub)
    assert W.report(w.state)[0]["path"][-1]["status"] == "published"


def test_publish_from_answered_reviews_the_latest_reply(w: World) -> None:
    w.ask("q-1", source="pre_session")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    w.append(
        [NewEvent(type="written.replied", data={"question": "q-1", "from": "x", "text": "Yes."})]
    )
    events = w.run(MOD, "written.publish", question="q-1")
    assert [e.type for e in events] == ["written.reviewed", "written.published"]
    assert w.q("q-1").answer == "Yes."


def test_publish_before_an_answer_is_refused_naming_the_state(w: World) -> None:
    w.ask("q-1", source="pre_session")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    with pytest.raises(InvalidState, match=r"written.publish: question 'q-1' is assigned"):
        w.run(MOD, "written.publish", question="q-1")


def test_assignment_needs_a_known_expert_and_a_future_due_date(w: World) -> None:
    w.ask("q-1", source="pre_session")
    with pytest.raises(NotFound, match="no expert 'nobody'"):
        w.run(MOD, "written.assign", question="q-1", expert="nobody", due=T0 + DAY)
    with pytest.raises(BadRequest, match="future"):
        w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 - 1)


@pytest.mark.parametrize("role", [Role.PARTICIPANT, Role.SITE, Role.EXPERT, Role.PUBLIC])
def test_only_staff_assign_review_publish(w: World, role: Role) -> None:
    w.ask("q-1", source="pre_session")
    who = Principal(role=role, invite="x", site="olsztyn" if role is Role.SITE else None)
    for name, args in (
        ("written.assign", {"question": "q-1", "expert": EPI, "due": T0 + DAY}),
        ("written.review", {"question": "q-1", "text": "t"}),
        ("written.publish", {"question": "q-1"}),
    ):
        with pytest.raises(Forbidden, match=role.value):
            w.run(who, name, **args)


def test_expert_answers_only_their_own_question(w: World) -> None:
    w.ask("q-1", source="pre_session")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    other = Principal(role=Role.EXPERT, invite="e2", expert=HOSP)
    with pytest.raises(Forbidden, match="not assigned to you"):
        w.run(other, "written.answer", question="q-1", text="mine")
    me = Principal(role=Role.EXPERT, invite="e1", expert=EPI)
    w.run(me, "written.answer", question="q-1", text="We trace within 24 hours.")
    assert (w.q("q-1").status, w.q("q-1").replies[0].via) == ("answered", "web")
    view = RULES.snapshot(w.state, other, w.now)["written"]
    assert view["questions"] == []
    assert RULES.snapshot(w.state, me, w.now)["written"]["questions"][0]["id"] == "q-1"


def test_batch_assign_is_all_or_nothing(w: World) -> None:
    w.ask("q-1", source="pre_session")
    w.ask("q-2", source="pre_session")
    with pytest.raises(NotFound):
        w.run(
            MOD,
            "written.assign_batch",
            items=[
                {"question": "q-1", "expert": EPI, "due": T0 + DAY},
                {"question": "q-9", "expert": EPI, "due": T0 + DAY},
            ],
        )
    assert w.q("q-1").status == "open"
    w.run(
        MOD,
        "written.assign_batch",
        items=[
            {"question": "q-1", "expert": EPI, "due": T0 + DAY},
            {"question": "q-2", "expert": HOSP, "due": T0 + DAY},
        ],
    )
    assert [w.q(i).expert for i in ("q-1", "q-2")] == [EPI, HOSP]


def test_suggestion_matches_topic_and_language(w: World) -> None:
    w.ask("q-1", "How long is quarantine for contacts?", language="zh", source="pre_session")
    w.ask("q-2", "Which masks for hospital staff?", language="en", tags=["hospitals"])
    w.append([NewEvent(type="q.deferred", data={"id": "q-2"})])
    assert W.suggest_expert(w.state, w.q("q-1")) == EPI
    topics = {e.id: e.topics for e in w.state.require_agenda().experts}
    hosp_topic = topics[HOSP][0]
    w.append([NewEvent(type="q.tagged", data={"id": "q-2", "tags": [hosp_topic]})])
    assert W.suggest_expert(w.state, w.q("q-2")) == HOSP


def test_added_expert_is_assignable_and_header_breaks_refused(w: World) -> None:
    w.run(
        MOD,
        "written.expert.add",
        id="olsztyn-virology",
        name="Dr Nowak",
        email="nowak@uwm.example.pl",
    )
    assert "olsztyn-virology" in W.experts(w.state)
    with pytest.raises(BadRequest, match=r"args\.name"):
        w.run(
            MOD, "written.expert.add", id="evil", name="Eve\r\nBcc: x@y.z", email="eve@example.org"
        )


def test_reply_classification_quarantines_strangers_and_auto_replies(w: World) -> None:
    w.ask("q-1", source="pre_session")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    email = W.experts(w.state)[EPI].email
    assert W.classify_reply(
        w.state, question="q-1", how="address", sender=email.upper(), auto=False
    ) == ("q-1", None)
    q, why = W.classify_reply(
        w.state, question="q-1", how="address", sender="eve@evil.example", auto=False
    )
    assert q is None and "eve@evil.example" in (why or "")
    assert (
        W.classify_reply(w.state, question="q-1", how="address", sender=email, auto=True)[0] is None
    )
    assert W.classify_reply(
        w.state, question=None, how="bad signature", sender=email, auto=False
    ) == (None, "bad signature")


def test_received_mail_is_stored_once_and_quarantine_can_be_filed(w: World) -> None:
    w.ask("q-1", source="pre_session")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    data = {
        "message_id": "<m1@x>",
        "from": "eve@x.org",
        "subject": "Re",
        "text": "hi",
        "question": None,
        "reason": "unmatched",
    }
    w.append([NewEvent(type="written.mail_received", data=data)])
    w.append([NewEvent(type="written.mail_received", data=data)])
    assert len(W.written_state(w.state).quarantine) == 1
    assert W.view_counts(w.state, w.now)["quarantine"] == 1
    w.run(MOD, "written.file", key="<m1@x>", question="q-1")
    assert w.q("q-1").status == "answered"
    assert W.view_counts(w.state, w.now)["quarantine"] == 0
    with pytest.raises(InvalidState, match="already filed"):
        w.run(MOD, "written.file", key="<m1@x>", question="q-1")


def test_reminders_before_due_and_when_overdue(w: World) -> None:
    w.ask("q-1", source="pre_session")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + 3 * DAY)
    assert W.due_reminders(w.state, T0 + DAY) == []
    w.now = T0 + 2.5 * DAY
    first = W.due_reminders(w.state, w.now)
    assert [e.data["kind"] for e in first] == ["before"]
    w.append(first)
    assert W.due_reminders(w.state, w.now + 3600) == []
    w.now = T0 + 3 * DAY + 60
    assert W.by_id(w.state)["q-1"].overdue(w.now)
    late = W.due_reminders(w.state, w.now)
    assert [e.data["kind"] for e in late] == ["overdue"]
    w.append(late)
    assert W.due_reminders(w.state, w.now + DAY) == []
    assert [e.data["kind"] for e in W.due_reminders(w.state, w.now + 2 * DAY + 1)] == ["overdue"]
    assert W.view_counts(w.state, w.now)["overdue"] == 1
    w.append(
        [NewEvent(type="written.replied", data={"question": "q-1", "from": "x", "text": "late"})]
    )
    assert W.due_reminders(w.state, w.now + 5 * DAY) == []


def test_digest_once_a_day_while_something_is_open(w: World) -> None:
    assert W.digest_due(w.state, T0) == []
    w.ask("q-1", source="pre_session")
    d = W.digest_due(w.state, T0)
    assert d[0].data["counts"]["open"] == 1
    w.append(d)
    assert W.digest_due(w.state, T0 + DAY / 2) == []
    assert len(W.digest_due(w.state, T0 + DAY)) == 1


def test_permanent_failure_flags_the_question_until_reassigned(w: World) -> None:
    w.ask("q-1", source="pre_session")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    w.append(
        [
            NewEvent(
                type="written.mail_failed",
                data={
                    "question": "q-1",
                    "kind": "assignment",
                    "error": "550 no such user",
                    "permanent": True,
                },
            )
        ]
    )
    assert w.q("q-1").bounced == "550 no such user"
    assert W.view_counts(w.state, w.now)["bounced"] == 1
    w.run(MOD, "written.assign", question="q-1", expert=HOSP, due=T0 + DAY)
    assert w.q("q-1").bounced is None


def test_public_snapshot_shows_published_answers_only(w: World) -> None:
    w.ask("q-1", source="pre_session", email="secret@example.org")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    w.append(
        [NewEvent(type="written.replied", data={"question": "q-1", "from": "x", "text": "draft"})]
    )
    public = Principal(role=Role.PUBLIC, invite="public")
    assert RULES.snapshot(w.state, public, w.now)["written"] == {"published": []}
    w.run(MOD, "written.publish", question="q-1")
    view = RULES.snapshot(w.state, public, w.now)["written"]
    assert [p["answer"] for p in view["published"]] == ["draft"]
    assert "secret@example.org" not in repr(view)


def test_the_core_decides_what_an_inbound_mail_is(w: World) -> None:
    """Reply, bounce, auto-reply, duplicate or stranger, from the adapter's facts alone."""
    w.ask("q-1", source="pre_session")
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    email = W.experts(w.state)[EPI].email
    ours = {"question": "q-1", "claimed": "q-1", "how": "address"}
    reply = W.classify_mail(w.state, W.MailFacts(message_id="<a@x>", sender=email, **ours))
    assert reply == W.MailVerdict(kind="reply", question="q-1")
    stranger = W.classify_mail(
        w.state, W.MailFacts(message_id="<b@x>", sender="eve@evil.example", **ours)
    )
    assert (stranger.kind, stranger.question) == ("stranger", "q-1")
    assert stranger.reason == "sender 'eve@evil.example' is not the expert of 'q-1'"
    away = W.classify_mail(
        w.state, W.MailFacts(message_id="<c@x>", sender=email, auto=True, **ours)
    )
    assert away == W.MailVerdict(kind="auto-reply", question="q-1", reason="auto-reply or bounce")
    # A delivery report: named by our Message-ID in it, or by who sent it.
    for facts in (
        W.MailFacts(
            message_id="<d@x>", sender="x@relay.example", auto=True, dsn_questions=("q-1",)
        ),
        W.MailFacts(message_id="<e@x>", sender="mailer-daemon@relay.example", auto=True, **ours),
        W.MailFacts(
            message_id="<f@x>", sender="x@relay.example", envelope_from="", auto=True, **ours
        ),
        W.MailFacts(
            message_id="<g@x>", sender="x@relay.example", auto=True, dsn_questions=(None,), **ours
        ),
    ):
        verdict = W.classify_mail(w.state, facts)
        assert (verdict.kind, verdict.bounce_of) == ("bounce", "q-1"), facts
    # Not a report: an auto-reply from a person's address with a known envelope sender.
    assert (
        W.classify_mail(
            w.state,
            W.MailFacts(message_id="<h@x>", sender=email, envelope_from=email, auto=True, **ours),
        ).bounce_of
        is None
    )
    cut = W.classify_mail(
        w.state, W.MailFacts(message_id="<i@x>", sender=email, cut_at=100, **ours)
    )
    assert (cut.kind, cut.reason) == ("stranger", "larger than 100 bytes: kept in part")
    w.append(
        [
            NewEvent(
                type="written.mail_received",
                data={
                    "message_id": "<a@x>",
                    "from": email,
                    "question": "q-1",
                    "reason": None,
                    "text": "ok",
                },
            )
        ]
    )
    again = W.classify_mail(w.state, W.MailFacts(message_id="<a@x>", sender=email, **ours))
    assert again.kind == "duplicate"
    # The stored reply joined its question without a made-up written.replied event.
    assert [(r.key, r.text, r.via) for r in w.q("q-1").replies] == [("<a@x>", "ok", "mail")]
    assert w.q("q-1").status == W.ANSWERED


def test_the_written_part_reads_the_queues_question_and_keeps_only_ids_of_its_events(
    w: World,
) -> None:
    # Of the queue's events it folds only two, and keeps only the question's id from them:
    # which questions may be written (so its views need not read every question).
    assert [t for t in W.PART.reducers if not t.startswith("written.")] == [
        "q.asked",
        "q.deferred",
    ]
    w.ask("q-1", source="pre_session")
    assert W.written_state(w.state).maybe == {"q-1": None}
    w.append([NewEvent(type="q.edited", data={"id": "q-1", "text": "Are schools open?"})])
    w.append([NewEvent(type="q.tagged", data={"id": "q-1", "tags": ["schools"]})])
    assert (w.q("q-1").text, w.q("q-1").tags) == ("Are schools open?", ["schools"])
    assert w.q("q-1").question is question(w.state, "q-1")  # the queue's object, not a copy
    assert W.written_state(w.state).lives == {}  # nothing kept before a written.* event names it
    w.run(MOD, "written.assign", question="q-1", expert=EPI, due=T0 + DAY)
    assert list(W.written_state(w.state).lives) == ["q-1"]
