"""Interpretation booths: one live interpreter per channel, handover in one press, the
cough button, what the media layer forwards, and the record the report reads."""

from __future__ import annotations

import pytest

from confsvc.core import interpretation as I
from confsvc.core.agenda import AgendaError, parse_agenda
from confsvc.core.conference import agenda_loaded_event
from confsvc.core.errors import BadRequest, Forbidden, InvalidState, Stale
from confsvc.core.events import Event, Principal
from confsvc.core.registry import RULES
from confsvc.core.roles import Role
from tests.conftest import SAMPLE
from tests.unit.core_session import HOST, MODERATOR, PARTICIPANT, Session
from tests.unit.interpretation_agenda import AGENDA, EN1, PL1, PL2, SECTION, TEXT


def session() -> Session:
    return Session(AGENDA)


def test_an_agenda_without_interpretation_has_no_channels_and_no_view() -> None:
    s = Session()
    assert s.agenda.interpretation is None
    assert I.on_air(s.state) == {}
    assert "interpretation" not in RULES.snapshot(s.state, PARTICIPANT, s.now)
    with pytest.raises(InvalidState, match="no interpretation channels"):
        s.do(PL1, "interp.take")


def test_the_section_round_trips_through_the_stored_agenda() -> None:
    data = AGENDA.to_data()
    assert data["interpretation"]["interpreters"][0]["from"] == ["zh", "en"]
    s = session()
    assert s.state.agenda == AGENDA


def test_taking_the_channel_puts_the_interpreter_on_air() -> None:
    s = session()
    new = s.do(PL1, "interp.take", seen="")
    assert [(e.type, e.data) for e in new] == [
        ("interp.live", {"channel": "pl", "interpreter": "pl-booth-1", "from": None})
    ]
    assert I.on_air(s.state) == {"pl": "pl-booth-1"}
    assert I.live_channels(s.state) == ["pl"]


def test_a_handover_is_one_press_and_both_partners_see_it() -> None:
    s = session()
    s.do(PL1, "interp.take")
    s.wait(600)
    new = s.do(PL2, "interp.take", seen="pl-booth-1")
    assert new[0].data == {"channel": "pl", "interpreter": "pl-booth-2", "from": "pl-booth-1"}
    assert I.on_air(s.state) == {"pl": "pl-booth-2"}
    for who in (PL1, PL2):
        pl = RULES.snapshot(s.state, who, s.now)["interpretation"]["channels"][1]
        assert (pl["channel"], pl["interpreter"], pl["since"]) == ("pl", "pl-booth-2", s.now)


def test_two_partners_pressing_at_once_hand_over_once() -> None:
    s = session()
    s.do(PL1, "interp.take")
    s.do(PL2, "interp.take", seen="pl-booth-1")
    # PL1 pressed "take" while still seeing itself off air with nobody else live.
    with pytest.raises(
        Stale, match="channel 'pl' has changed; Polish booth, second interpreter is live now"
    ):
        s.do(PL1, "interp.take", seen="")
    assert I.on_air(s.state) == {"pl": "pl-booth-2"}


def test_taking_twice_is_refused_by_name() -> None:
    s = session()
    s.do(PL1, "interp.take")
    with pytest.raises(InvalidState, match="you are already live in channel 'pl'"):
        s.do(PL1, "interp.take")


def test_channels_are_independent() -> None:
    s = session()
    s.do(PL1, "interp.take")
    s.do(EN1, "interp.take")
    assert I.on_air(s.state) == {"pl": "pl-booth-1", "en": "en-booth-1"}
    s.do(PL1, "interp.release")
    assert I.on_air(s.state) == {"en": "en-booth-1"}


def test_the_cough_button_mutes_the_channel_and_a_handover_ends_it() -> None:
    s = session()
    s.do(PL1, "interp.take")
    s.do(PL1, "interp.cough", on=True)
    assert I.on_air(s.state) == {}
    assert I.live_channels(s.state) == ["pl"]  # still live: listeners stay on the channel
    with pytest.raises(InvalidState, match="channel 'pl' is muted already"):
        s.do(PL1, "interp.cough", on=True)
    s.do(PL1, "interp.cough", on=False)
    assert I.on_air(s.state) == {"pl": "pl-booth-1"}
    s.do(PL1, "interp.cough", on=True)
    s.do(PL2, "interp.take")
    assert I.on_air(s.state) == {"pl": "pl-booth-2"}


def test_only_the_live_interpreter_coughs_or_releases() -> None:
    s = session()
    s.do(PL1, "interp.take")
    with pytest.raises(
        InvalidState, match="you are not live in channel 'pl'; take the channel first"
    ):
        s.do(PL2, "interp.cough", on=True)
    with pytest.raises(InvalidState, match=r"interp\.release: you are not live in channel 'pl'"):
        s.do(PL2, "interp.release")
    with pytest.raises(Forbidden, match="you speak into 'pl', not 'en'"):
        s.do(PL1, "interp.release", channel="en")


def test_other_roles_may_not_speak_into_a_channel() -> None:
    s = session()
    for who in (
        HOST,
        MODERATOR,
        PARTICIPANT,
        Principal(role=Role.SITE, invite="s", site="olsztyn"),
    ):
        with pytest.raises(Forbidden, match=r"may not use 'interp\.take'"):
            s.do(who, "interp.take")
    nameless = Principal(role=Role.INTERPRETER, invite="x")
    with pytest.raises(Forbidden, match="only an interpreter link speaks into a channel"):
        s.do(nameless, "interp.take")
    stranger = Principal(role=Role.INTERPRETER, invite="y", interpreter="de-booth")
    with pytest.raises(Forbidden, match="interpreter 'de-booth' is no longer in the agenda"):
        s.do(stranger, "interp.take")


def test_the_host_releases_any_channel_by_name() -> None:
    s = session()
    s.do(EN1, "interp.take")
    with pytest.raises(BadRequest, match="name the channel"):
        s.do(HOST, "interp.release")
    with pytest.raises(BadRequest, match=r"no channel 'de' \(channels: zh, pl, en\)"):
        s.do(HOST, "interp.release", channel="de")
    with pytest.raises(InvalidState, match="nobody is live in channel 'pl'"):
        s.do(HOST, "interp.release", channel="pl")
    new = s.do(HOST, "interp.release", channel="en")
    assert new[0].data == {"channel": "en", "interpreter": "en-booth-1"}
    assert I.on_air(s.state) == {}


def test_listeners_see_live_channels_but_not_who_is_in_the_booth() -> None:
    s = session()
    s.do(PL1, "interp.take")
    view = RULES.snapshot(s.state, PARTICIPANT, s.now)["interpretation"]
    assert view == {
        "channels": [
            {"channel": "zh", "live": False, "coughing": False},
            {"channel": "pl", "live": True, "coughing": False},
            {"channel": "en", "live": False, "coughing": False},
        ]
    }
    mine = RULES.snapshot(s.state, PL2, s.now)["interpretation"]
    assert mine["me"] == {
        "id": "pl-booth-2",
        "name": "Polish booth, second interpreter",
        "into": "pl",
        "from": ["en"],
    }
    assert [b["id"] for b in mine["channels"][1]["booth"]] == ["pl-booth-1", "pl-booth-2"]


def test_live_messages_give_names_to_the_booths_and_staff_only() -> None:
    s = session()
    s.do(PL1, "interp.take")
    event = Event(seq=s.state.seq, type="interp.live", at=s.now, actor="x", data={})
    messages = RULES.messages(s.state, event)
    assert len(messages) == 2
    full, brief = messages
    assert full.audience.includes(PL2) and full.audience.includes(MODERATOR)
    assert not full.audience.includes(PARTICIPANT)
    assert brief.audience.includes(PARTICIPANT) and not brief.audience.includes(PL2)
    assert "interpreter" in full.payload["interpretation"]["channels"][1]
    assert "interpreter" not in brief.payload["interpretation"]["channels"][1]


def test_the_record_has_a_lane_per_channel_and_minutes_without_coughs() -> None:
    s = session()
    s.do(PL1, "interp.take")
    s.wait(600)
    s.do(PL1, "interp.cough", on=True)
    s.wait(60)
    s.do(PL1, "interp.cough", on=False)
    s.wait(240)
    s.do(PL2, "interp.take")  # PL1: 15 min live, 1 of them coughing
    s.wait(300)
    s.do(PL2, "interp.release")
    s.do(EN1, "interp.take")
    s.wait(120)  # still live at the report's "now"
    rep = I.report(s.state, s.now)
    assert rep is not None
    pl = rep["lanes"][1]
    assert pl["channel"] == "pl"
    assert [(t["interpreter"], t["until"] - t["from"], t["cough_s"]) for t in pl["turns"]] == [
        ("pl-booth-1", 900.0, 60.0),
        ("pl-booth-2", 300.0, 0.0),
    ]
    assert rep["lanes"][0] == {"channel": "zh", "turns": []}
    minutes = {p["id"]: (p["minutes"], p["turns"]) for p in rep["interpreters"]}
    assert minutes == {"pl-booth-1": (14.0, 1), "pl-booth-2": (5.0, 1), "en-booth-1": (2.0, 1)}


def test_an_agenda_reload_without_the_interpreter_ends_their_turn() -> None:
    s = session()
    s.do(PL1, "interp.take")
    s.wait(60)
    shorter = parse_agenda(
        TEXT.replace(
            '    - {id: pl-booth-1, name: "Polish booth, first interpreter", into: pl, from: [zh, en]}\n',
            "",
        )
    )
    s.fold([agenda_loaded_event(shorter)])
    assert I.on_air(s.state) == {}
    rep = I.report(s.state, s.now + 999)
    assert rep is not None
    assert rep["lanes"][1]["turns"][0]["until"] == s.now


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '{id: de-1, name: "German", into: de, from: [zh]}',
            "interpreter 'de-1' speaks into 'de', which is not a channel (channels: zh, pl, en)",
        ),
        (
            '{id: pl-booth-1, name: "again", into: pl, from: [zh]}',
            "duplicate interpreter id 'pl-booth-1' (first at interpreters[0])",
        ),
        (
            '{id: pl-3, name: "x", into: pl, from: [xx]}',
            "interpreter 'pl-3' interprets from unknown language 'xx' (neither a channel nor a conference language)",
        ),
        (
            '{id: pl-4, name: "x", into: pl, from: [pl]}',
            "interpreter 'pl-4' cannot interpret from 'pl' into itself",
        ),
    ],
)
def test_agenda_check_reports_a_bad_interpreter_on_its_line(entry: str, message: str) -> None:
    text = TEXT + f"    - {entry}\n"
    line = text.count("\n")  # the entry is the last line
    with pytest.raises(AgendaError) as caught:
        parse_agenda(text)
    assert [(p.line, p.message) for p in caught.value.problems] == [(line, message)]


def test_a_channel_listed_twice_is_refused() -> None:
    text = SAMPLE.read_text(encoding="utf-8") + SECTION.replace("[zh, pl, en]", "[zh, pl, pl]")
    with pytest.raises(AgendaError, match="a channel is listed twice"):
        parse_agenda(text)


def test_an_interpreter_link_names_an_interpreter_of_the_agenda() -> None:
    from confsvc.core.invites import InviteRequest, check_issue, invites

    s = session()
    check_issue(s.state, HOST, InviteRequest(role=Role.INTERPRETER, interpreter="pl-booth-2"))
    with pytest.raises(
        BadRequest,
        match=r"no interpreter 'pl-booth-9' in the agenda \(interpreters: pl-booth-1, pl-booth-2, en-booth-1\)",
    ):
        check_issue(s.state, HOST, InviteRequest(role=Role.INTERPRETER, interpreter="pl-booth-9"))
    with pytest.raises(BadRequest, match="an interpreter invite needs an interpreter id"):
        check_issue(s.state, HOST, InviteRequest(role=Role.INTERPRETER))
    with pytest.raises(BadRequest, match="only an interpreter invite takes one"):
        check_issue(s.state, HOST, InviteRequest(role=Role.PARTICIPANT, interpreter="pl-booth-1"))
    with pytest.raises(BadRequest, match="the agenda has no interpretation section"):
        check_issue(
            Session().state, HOST, InviteRequest(role=Role.INTERPRETER, interpreter="pl-booth-1")
        )
    s.do(
        HOST,
        "invite.record",
        id="abcd1",
        role="interpreter",
        expires=int(s.now) + 60,
        interpreter="en-booth-1",
    )
    assert invites(s.state)["abcd1"].interpreter == "en-booth-1"


def test_an_interpreter_token_carries_its_interpreter() -> None:
    from confsvc.core.permissions import Permission, may
    from confsvc.core.roles import issue_invite, verify_invite

    _invite, token = issue_invite(
        b"k" * 32, conference="c", role=Role.INTERPRETER, now=0.0, interpreter="pl-booth-1"
    )
    back = verify_invite(b"k" * 32, token, now=1.0)
    assert (back.role, back.interpreter) == (Role.INTERPRETER, "pl-booth-1")
    assert may(back, Permission.INTERPRET) and may(back, Permission.WATCH)
    assert not may(back, Permission.PRESENT)
    with pytest.raises(BadRequest, match="an interpreter invite needs an interpreter id"):
        issue_invite(b"k" * 32, conference="c", role=Role.INTERPRETER, now=0.0)


def test_the_report_has_a_lane_per_channel_for_the_organiser_only() -> None:
    from confsvc.core import report as core_report
    from confsvc.report.svg import timeline

    s = session()
    s.do(HOST, "ros.start")
    s.do(PL1, "interp.take")
    s.wait(300)
    s.do(PL2, "interp.take")
    s.wait(120)
    full = core_report.build(s.state, s.now)
    assert [t["interpreter"] for t in full["interpretation"]["lanes"][1]["turns"]] == [
        "pl-booth-1",
        "pl-booth-2",
    ]
    assert "interpretation" not in core_report.build(s.state, s.now, public=True)
    svg = timeline(
        full,
        "en",
        dict.fromkeys(
            ("timeline", "planned", "actual", "extended", "pause", "floor", "on_air"), "x"
        )
        | {"channel": "Channel"},
    )
    assert svg.count('class="interpreting" data-channel="pl"') == 2
    assert "Channel: Polski" in svg
