"""The recording's rules: only when the agenda or a host enables it, the run of show
starts and ends it, the host pauses and resumes, takes and chapters from the log."""

from __future__ import annotations

import pytest

from confsvc.core.errors import Forbidden, InvalidState, Stale
from confsvc.core.permissions import Permission, may, roles_with
from confsvc.core.recording import (
    OFF,
    PAUSED,
    RECORDING,
    STOPPED,
    chapters,
    media_s,
    recording,
    view,
)
from confsvc.core.roles import Role
from tests.unit.core_session import AGENDA, HOST, MODERATOR, PARTICIPANT, Session

RECORDING_AGENDA = AGENDA.model_copy(
    update={"conference": AGENDA.conference.model_copy(update={"recording": True})}
)


def test_nothing_is_recorded_unless_the_agenda_or_a_host_says_so() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    assert recording(s.state).status == OFF
    assert recording(s.state).takes == []
    s.wait(30)
    s.do(HOST, "rec.start")
    take = recording(s.state).take
    assert take is not None
    assert (recording(s.state).status, take.started_at) == (RECORDING, s.now)


def test_the_agenda_key_starts_it_with_the_run_of_show_and_the_end_stops_it() -> None:
    s = Session(RECORDING_AGENDA)
    assert recording(s.state).status == OFF
    s.do(HOST, "ros.start")
    started = s.now
    assert recording(s.state).status == RECORDING
    assert recording(s.state).takes[0].by == "agenda"
    s.wait(120)
    s.do(HOST, "ros.end")
    rec = recording(s.state)
    assert rec.status == STOPPED
    assert [(t.started_at, t.stopped_at) for t in rec.takes] == [(started, started + 120)]
    with pytest.raises(InvalidState) as err:
        s.do(HOST, "rec.start")
    assert str(err.value) == "cannot start the recording when the conference is ended"


def test_pause_and_resume_are_kept_in_the_take() -> None:
    s = Session(RECORDING_AGENDA)
    s.do(HOST, "ros.start")
    s.wait(10)
    s.do(HOST, "rec.pause")
    assert recording(s.state).status == PAUSED
    s.wait(5)
    s.do(HOST, "rec.resume")
    s.wait(5)
    s.do(HOST, "rec.stop")
    take = recording(s.state).takes[0]
    t0 = take.started_at
    assert take.pauses == [[t0 + 10, t0 + 15]]
    assert take.stopped_at == t0 + 20


def test_a_command_the_status_does_not_allow_names_both() -> None:
    s = Session()
    with pytest.raises(InvalidState) as err:
        s.do(HOST, "rec.pause")
    assert str(err.value) == "cannot pause the recording when it is off"
    s.do(HOST, "rec.start")
    with pytest.raises(InvalidState) as err:
        s.do(HOST, "rec.resume")
    assert str(err.value) == "cannot resume the recording when it is recording"


def test_a_command_decided_on_another_status_is_stale() -> None:
    s = Session()
    s.do(HOST, "rec.start", from_status=OFF)
    with pytest.raises(Stale) as err:
        s.do(HOST, "rec.start", from_status=OFF)
    assert str(err.value) == "rec.start: the recording is already recording"


@pytest.mark.parametrize("who", [MODERATOR, PARTICIPANT])
def test_only_the_host_controls_the_recording(who: object) -> None:
    s = Session()
    with pytest.raises(Forbidden):
        s.do(who, "rec.start")  # type: ignore[arg-type]
    assert recording(s.state).status == OFF


def test_the_permission_decides_who_records() -> None:
    assert roles_with(Permission.RECORD) == {Role.HOST}
    assert may(HOST, Permission.RECORD)
    assert not may(MODERATOR, Permission.RECORD)


def test_a_stopped_recording_starts_a_new_take() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    s.do(HOST, "rec.start")
    s.wait(10)
    s.do(HOST, "rec.stop")
    s.wait(10)
    s.do(HOST, "rec.start")
    assert [t.number for t in recording(s.state).takes] == [1, 2]
    assert view(s.state)["since"] == s.now


def test_chapters_are_the_items_run_during_the_take_from_its_start() -> None:
    s = Session(RECORDING_AGENDA)
    s.do(HOST, "ros.start")
    s.wait(60)
    s.do(HOST, "ros.next")
    s.wait(30)
    s.do(HOST, "ros.previous")
    s.wait(15)
    take = recording(s.state).takes[0]
    got = [(c["item"], c["start_s"], c["end_s"]) for c in chapters(s.state, take, s.now)]
    first, second = AGENDA.items[0].id, AGENDA.items[1].id
    assert got == [(first, 0.0, 60.0), (second, 60.0, 90.0), (first, 90.0, 105.0)]


def test_chapters_of_a_take_started_mid_item_begin_at_zero() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    s.wait(40)
    s.do(HOST, "rec.start")
    s.wait(20)
    s.do(HOST, "ros.next")
    s.wait(5)
    take = recording(s.state).takes[0]
    got = [(c["start_s"], c["end_s"]) for c in chapters(s.state, take, s.now)]
    assert got == [(0.0, 20.0), (20.0, 25.0)]


def test_chapter_times_leave_the_pauses_out() -> None:
    s = Session(RECORDING_AGENDA)
    s.do(HOST, "ros.start")
    s.wait(10)
    s.do(HOST, "rec.pause")
    s.wait(100)
    s.do(HOST, "rec.resume")
    s.wait(10)
    s.do(HOST, "ros.next")
    s.wait(10)
    take = recording(s.state).takes[0]
    got = [(c["start_s"], c["end_s"]) for c in chapters(s.state, take, s.now)]
    assert got == [(0.0, 20.0), (20.0, 30.0)]
    assert media_s(take, take.started_at + 50) == 10.0


def test_the_report_links_items_and_on_air_questions_to_the_program() -> None:
    from confsvc.core.recording import program_at
    from confsvc.core.report import build

    s = Session()
    s.do(HOST, "ros.start")
    s.wait(30)
    s.do(HOST, "rec.start")
    s.wait(20)
    s.do(HOST, "ros.next")
    s.wait(10)
    data = build(s.state, s.now)
    first, second = data["items"][0], data["items"][1]
    assert first["program_at"] is None  # it began before the recording did
    assert second["program_at"] == {"take": 1, "s": 20.0}
    assert data["recording"]["recorded"] == ["site_video", "site_audio_on_floor", "program"]
    assert [t["number"] for t in data["recording"]["takes"]] == [1]
    assert program_at(s.state, s.now - 5) == {"take": 1, "s": 25.0}


def test_a_report_without_a_recording_says_nothing_was_recorded() -> None:
    from confsvc.core.report import build

    s = Session()
    s.do(HOST, "ros.start")
    data = build(s.state, s.now)
    assert data["recording"]["takes"] == [] and data["recording"]["recorded"] == []
    assert all(item["program_at"] is None for item in data["items"])
