"""The record of invite links in the core: who may issue which link, what is recorded
(never the token), revocation, and who sees the list."""

from __future__ import annotations

import pytest

from confsvc.core import invites
from confsvc.core.errors import BadRequest, DomainError, Forbidden, InvalidState
from confsvc.core.events import Event
from confsvc.core.invites import InviteRequest, check_issue, record_args
from confsvc.core.registry import RULES
from confsvc.core.roles import Role, issue_invite
from tests.unit.core_session import AGENDA, HOST, MODERATOR, PARTICIPANT, Session

SECRET = b"s" * 32


def signed(
    role: Role, site: str | None = None, name: str | None = None
) -> tuple[dict[str, object], str]:
    invite, token = issue_invite(
        SECRET, conference=AGENDA.conference.id, role=role, site=site, name=name, now=1_000_000.0
    )
    return record_args(invite), token


def test_only_a_host_may_issue_and_the_link_must_fit_the_agenda() -> None:
    s = Session()
    check_issue(s.state, HOST, InviteRequest(role=Role.MODERATOR))
    check_issue(s.state, HOST, InviteRequest(role=Role.SITE, site=AGENDA.site_ids[0]))
    for who in (MODERATOR, PARTICIPANT):
        with pytest.raises(Forbidden):
            check_issue(s.state, who, InviteRequest(role=Role.PARTICIPANT))
    with pytest.raises(BadRequest, match="needs a site"):
        check_issue(s.state, HOST, InviteRequest(role=Role.SITE))
    with pytest.raises(BadRequest, match="only a site invite"):
        check_issue(s.state, HOST, InviteRequest(role=Role.HOST, site=AGENDA.site_ids[0]))
    with pytest.raises(BadRequest, match="atlantis"):
        check_issue(s.state, HOST, InviteRequest(role=Role.SITE, site="atlantis"))
    with pytest.raises(BadRequest, match="positive"):
        check_issue(s.state, HOST, InviteRequest(role=Role.PARTICIPANT, ttl_s=0))


def test_a_recorded_invite_keeps_everything_but_the_token() -> None:
    s = Session()
    args, token = signed(Role.SITE, site=AGENDA.site_ids[1], name="Olsztyn room")
    s.do(HOST, "invite.record", **args)
    [row] = invites.view(s.state)
    assert row == {
        "id": args["id"],
        "role": "site",
        "site": AGENDA.site_ids[1],
        "name": "Olsztyn room",
        "interpreter": None,
        "languages": [],
        "expires": args["expires"],
        "issued_at": s.now,
        "revoked": False,
    }
    assert token not in repr(s.state.parts["invites"])
    with pytest.raises(InvalidState, match="already recorded"):
        s.do(HOST, "invite.record", **args)


def test_a_translator_link_names_the_languages_it_reads() -> None:
    s = Session()
    invite, _ = issue_invite(
        SECRET,
        conference=AGENDA.conference.id,
        role=Role.TRANSLATOR,
        languages=("zh", "pl"),
        now=1_000_000.0,
    )
    s.do(HOST, "invite.record", **record_args(invite))
    [row] = invites.view(s.state)
    assert (row["role"], row["languages"]) == ("translator", ["zh", "pl"])


def test_languages_go_only_with_a_translator_link_and_only_the_conferences() -> None:
    s = Session()
    check_issue(s.state, HOST, InviteRequest(role=Role.TRANSLATOR, languages=("zh", "pl")))
    with pytest.raises(BadRequest) as caught:
        check_issue(s.state, HOST, InviteRequest(role=Role.EXPERT, languages=("zh",)))
    assert (caught.value.message, caught.value.field) == (
        "only a translator invite takes languages",
        "args.languages",
    )
    with pytest.raises(BadRequest) as caught:
        check_issue(s.state, HOST, InviteRequest(role=Role.TRANSLATOR, languages=("de",)))
    assert caught.value.message == "'de' is not a language of this conference (zh, pl, en)"


def test_revoking_marks_the_record_and_refuses_a_second_time() -> None:
    s = Session()
    args, _ = signed(Role.PARTICIPANT)
    s.do(HOST, "invite.record", **args)
    s.wait(30)
    s.do(HOST, "invite.revoke", invite=args["id"])
    assert invites.invites(s.state)[str(args["id"])].revoked_at == s.now
    assert invites.view(s.state)[0]["revoked"] is True
    with pytest.raises(InvalidState, match="already revoked"):
        s.do(HOST, "invite.revoke", invite=args["id"])


def test_only_hosts_see_the_list_and_get_its_updates() -> None:
    s = Session()
    args, _ = signed(Role.MODERATOR)
    [new] = s.do(HOST, "invite.record", **args)
    host_view = RULES.snapshot(s.state, HOST, s.now)
    moderator_view = RULES.snapshot(s.state, MODERATOR, s.now)
    assert [r["id"] for r in host_view["invites"]["invites"]] == [args["id"]]
    assert "invites" not in moderator_view
    event = Event(seq=s.state.seq, type=new.type, at=s.now, actor="host-1", data=new.data)
    [message] = [m for m in RULES.messages(s.state, event) if m.payload["type"] == "invites"]
    assert message.audience.includes(HOST)
    assert not message.audience.includes(MODERATOR)


def test_a_non_host_cannot_record_or_revoke() -> None:
    s = Session()
    args, _ = signed(Role.PARTICIPANT)
    with pytest.raises(DomainError):
        s.do(MODERATOR, "invite.record", **args)
    s.do(HOST, "invite.record", **args)
    with pytest.raises(DomainError):
        s.do(PARTICIPANT, "invite.revoke", invite=args["id"])
    assert invites.view(s.state)[0]["revoked"] is False
