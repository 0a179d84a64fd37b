"""One shared audience link, many people: the rules of confsvc.core.audience and what
the question part makes of them (votes, "my questions", reasons, rate limits)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from confsvc.core.audience import (
    PersonError,
    as_person,
    new_person,
    person_token,
    shared,
    verify_person,
)
from confsvc.core.errors import Forbidden, InvalidState, RateLimited
from confsvc.core.events import Event, Principal
from confsvc.core.questions.queue import MAX_ASKS_PER_MIN
from confsvc.core.registry import RULES
from confsvc.core.roles import Invite, Role, issue_invite
from tests.unit.core_session import AGENDA, HOST, MODERATOR, PARTICIPANT, Session

SECRET = b"s" * 32
NOW = 1_000_000.0


def issue_person(secret: bytes, invite: Invite) -> tuple[str, str]:
    person = new_person(invite)
    return person, person_token(secret, invite.conference, invite.id, person)


def link(name: str | None = None, role: Role = Role.PARTICIPANT) -> Invite:
    site = AGENDA.site_ids[0] if role is Role.SITE else None
    invite, _token = issue_invite(
        SECRET, conference=AGENDA.conference.id, role=role, site=site, name=name, now=NOW
    )
    return invite


def test_a_participant_link_without_a_name_is_shared_and_every_other_link_personal() -> None:
    assert shared(link())
    assert not shared(link(name="Dr Wang"))
    for role in (Role.HOST, Role.MODERATOR, Role.SITE, Role.EXPERT):
        assert not shared(link(role=role))
    with pytest.raises(PersonError, match="this link is personal"):
        issue_person(SECRET, link(name="Dr Wang"))


def test_a_person_token_names_its_person_on_its_link_only() -> None:
    invite = link()
    person, token = issue_person(SECRET, invite)
    assert verify_person(SECRET, invite, token) == person
    other, _ = issue_person(SECRET, invite)
    assert other != person


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda t, inv: t[:-1] + ("0" if t[-1] != "0" else "1"), "signature is not valid"),
        (lambda t, inv: t.replace(t.split(".")[1], "f" * 16), "signature is not valid"),
        (lambda t, inv: "other-link." + t.split(".", 1)[1], "belongs to another link"),
        (lambda t, inv: t.split(".", 1)[1], "not a confsvc person token"),
        (lambda t, inv: "é" + t, "not a confsvc person token"),
        (lambda t, inv: 12, "not a confsvc person token"),
    ],
)
def test_a_tampered_or_foreign_person_token_is_refused_saying_why(tamper, message) -> None:  # type: ignore[no-untyped-def]
    invite = link()
    _, token = issue_person(SECRET, invite)
    with pytest.raises(PersonError, match=message) as err:
        verify_person(SECRET, invite, tamper(token, invite))
    assert err.value.as_dict()["code"] == "bad_person"
    assert err.value.field == "person"


def test_a_token_signed_with_another_secret_or_for_another_conference_is_refused() -> None:
    invite = link()
    _, token = issue_person(b"x" * 32, invite)
    with pytest.raises(PersonError, match="signature is not valid"):
        verify_person(SECRET, invite, token)
    _, token = issue_person(SECRET, invite)
    elsewhere = replace(invite, conference="another-conference")
    with pytest.raises(PersonError, match="signature is not valid"):
        verify_person(SECRET, elsewhere, token)


def _two_people() -> tuple[Session, Principal, Principal]:
    s = Session()
    s.do(HOST, "ros.start")
    alice, bob = as_person(PARTICIPANT, "a" * 16), as_person(PARTICIPANT, "b" * 16)
    assert (alice.identity, bob.identity) == (f"part-1.{'a' * 16}", f"part-1.{'b' * 16}")
    return s, alice, bob


def test_two_people_on_one_link_ask_and_vote_as_two() -> None:
    s, alice, bob = _two_people()
    s.do(alice, "q.ask", text="Do hospitals have masks?")
    qid = "q-1"
    s.do(MODERATOR, "q.approve", id=qid)
    with pytest.raises(InvalidState, match="is your own question"):
        s.do(alice, "q.vote", id=qid)
    s.do(bob, "q.vote", id=qid)
    with pytest.raises(InvalidState, match="already voted"):
        s.do(bob, "q.vote", id=qid)
    other = as_person(PARTICIPANT, "c" * 16)
    s.do(other, "q.vote", id=qid)
    room = RULES.snapshot(s.state, bob, s.now)["questions"]
    assert room["voted"] == [qid]
    assert [q["votes"] for q in room["items"]] == [2]
    assert RULES.snapshot(s.state, alice, s.now)["questions"]["voted"] == []


def test_only_the_asker_sees_their_question_and_its_rejection_reason() -> None:
    s, alice, bob = _two_people()
    s.do(alice, "q.ask", text="Why is this call so late at night?")
    s.do(MODERATOR, "q.reject", id="q-1", reason="off topic for this session")
    mine = RULES.snapshot(s.state, alice, s.now)["questions"]["mine"]
    assert [(q["id"], q["reason"]) for q in mine] == [("q-1", "off topic for this session")]
    bobs = RULES.snapshot(s.state, bob, s.now)["questions"]
    assert bobs["mine"] == [] and bobs["items"] == []
    # The live message of the rejection goes to the asker's identity alone.
    event = Event(seq=s.state.seq, type="q.rejected", at=s.now, actor="mod", data={"id": "q-1"})
    private = [m for m in RULES.messages(s.state, event) if m.payload["type"] == "q.mine"]
    assert [m.payload["item"]["reason"] for m in private] == ["off topic for this session"]
    assert [m.audience.includes(alice) for m in private] == [True]
    assert [m.audience.includes(bob) for m in private] == [False]
    assert [m.audience.includes(PARTICIPANT) for m in private] == [False]


def test_rate_limits_are_per_person_not_per_link() -> None:
    s, alice, bob = _two_people()
    for n in range(MAX_ASKS_PER_MIN):
        s.do(alice, "q.ask", text=f"Question number {n} from Alice")
    with pytest.raises(RateLimited, match="at most 5 questions a minute"):
        s.do(alice, "q.ask", text="One too many from Alice")
    s.do(bob, "q.ask", text="Bob has not asked anything yet")
    assert len(s.state.parts["questions"].items) == MAX_ASKS_PER_MIN + 1


def test_revoking_the_shared_link_ends_every_person_on_it() -> None:
    s, alice, bob = _two_people()
    s.do(HOST, "invite.revoke", invite=PARTICIPANT.invite)
    for who in (alice, bob):
        with pytest.raises(Forbidden, match="revoked"):
            s.do(who, "q.ask", text="Still there?")


def test_a_personal_link_is_one_identity_as_before() -> None:
    assert PARTICIPANT.identity == PARTICIPANT.invite
    assert PARTICIPANT.actor == "participant/part-1"
    assert as_person(PARTICIPANT, "a" * 16).actor == f"participant/part-1.{'a' * 16}"
