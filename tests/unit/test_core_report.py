"""The report's figures from the log alone: actual times and overruns, who held the floor
how long (pauses left out), each question's track, counts that reconcile, and a public
report that holds only what the public saw."""

from __future__ import annotations

import json

import pytest

from confsvc.core import report
from tests.unit.core_session import AGENDA, HOST, MODERATOR, PARTICIPANT, Session


def ask(s: Session, text: str, name: str = "Anna Kowalska") -> str:
    s.do(PARTICIPANT, "q.ask", text=text, name=name, site=AGENDA.site_ids[0])
    return list(report.qmod.questions(s.state).items)[-1]


@pytest.fixture
def session() -> Session:
    """Item 0 runs 10 min with a 2 min pause inside, item 1 runs 3 min, then the end."""
    s = Session()
    s.do(HOST, "ros.start")
    s.wait(240)
    s.do(HOST, "ros.pause")
    s.wait(120)
    s.do(HOST, "ros.resume")
    s.wait(240)
    s.do(HOST, "ros.next")
    s.wait(180)
    s.do(HOST, "ros.end")
    return s


def test_actual_times_leave_pauses_out_and_overruns_count_against_the_plan(
    session: Session,
) -> None:
    built = report.build(session.state, session.now)
    first, second = built["items"][0], built["items"][1]
    assert first["actual_s"] == pytest.approx(480.0)
    assert second["actual_s"] == pytest.approx(180.0)
    assert first["overrun_s"] == pytest.approx(max(0.0, 480.0 - AGENDA.items[0].minutes * 60))
    assert second["overrun_s"] == pytest.approx(max(0.0, 180.0 - AGENDA.items[1].minutes * 60))
    assert built["items"][2]["actual_s"] is None
    conf = built["conference"]
    assert conf["actual_s"] == pytest.approx(780.0)
    assert conf["paused_s"] == pytest.approx(120.0)
    assert built["pauses"] == [[pytest.approx(1_000_240.0), pytest.approx(1_000_360.0)]]


def test_speaking_time_per_site_follows_the_floor_without_pauses(session: Session) -> None:
    built = report.build(session.state, session.now)
    speaking = built["speaking"]["per_site"]
    first_floor, second_floor = set(AGENDA.items[0].floor), set(AGENDA.items[1].floor)
    for site in AGENDA.site_ids:
        expected = 480.0 * (site in first_floor) + 180.0 * (site in second_floor)
        assert speaking[site] == pytest.approx(expected), site
    assert [span["sites"] for span in built["floor"]][:2] == [
        [x for x in AGENDA.site_ids if x in first_floor],
        [x for x in AGENDA.site_ids if x in second_floor],
    ]


def test_every_question_is_in_one_track_and_the_counts_reconcile() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    aired = ask(s, "Jak szpitale zorganizowały triaż?")
    s.do(MODERATOR, "q.approve", id=aired)
    s.do(MODERATOR, "q.on_air", id=aired)
    s.wait(60)
    s.do(MODERATOR, "q.answer", id=aired)
    waiting = ask(s, "Ile łóżek przygotowano?")
    s.do(MODERATOR, "q.approve", id=waiting)
    refused = ask(s, '=HYPERLINK("http://x")')
    s.do(MODERATOR, "q.reject", id=refused, reason="off topic")
    built = report.build(s.state, s.now)
    rows = {row["id"]: row for row in built["questions"]}
    assert set(rows) == {aired, waiting, refused}
    assert rows[aired]["on_air_at"] is not None
    assert built["on_air"] == [
        {
            "id": aired,
            "at": rows[aired]["on_air_at"],
            "site": rows[aired]["site"],
            "program_at": None,  # not recorded (tests/unit/test_recording.py links it)
        }
    ]
    assert built["counts"]["reconciles"] is True
    assert built["counts"]["answered"] >= 1


def test_the_public_report_holds_only_what_the_public_saw() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    aired = ask(s, "Czy maseczki pomagają?", name="Jan Nowak")
    s.do(MODERATOR, "q.approve", id=aired)
    s.do(MODERATOR, "q.on_air", id=aired)
    s.do(MODERATOR, "q.answer", id=aired)
    hidden = ask(s, "Pytanie nigdy nie pokazane", name="Ewa Sekret")
    s.do(MODERATOR, "q.approve", id=hidden)
    public = report.build(s.state, s.now, public=True)
    staff = report.build(s.state, s.now)
    assert [row["id"] for row in public["questions"]] == [aired]
    assert {row["id"] for row in staff["questions"]} == {aired, hidden}
    text = json.dumps(public, ensure_ascii=False)
    for leak in ("Jan Nowak", "Ewa Sekret", "Pytanie nigdy nie pokazane"):
        assert leak not in text
    assert public["public"] is True and public["counts"]["reconciles"] is True


def test_a_report_before_the_start_has_no_actual_times() -> None:
    s = Session()
    built = report.build(s.state, s.now)
    assert built["conference"]["actual_start"] is None
    assert built["conference"]["actual_s"] is None
    assert all(item["actual_s"] is None for item in built["items"])
    assert built["floor"] == [] and built["questions"] == []
