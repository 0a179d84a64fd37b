"""The floor: derived from the current item, replaced by the host's override until the
next item, joined by the question on air; logged each time it changes."""

from __future__ import annotations

import pytest

from confsvc.core.errors import BadRequest, DomainError, InvalidState
from confsvc.core.floor import current_floor, floor_state, on_air_event
from tests.unit.core_session import AGENDA, HOST, MODERATOR, Session


def items_floor(i: int) -> list[str]:
    wanted = set(AGENDA.items[i].floor)
    return [s for s in AGENDA.site_ids if s in wanted]


def test_nobody_holds_the_floor_before_the_start_or_after_the_end() -> None:
    s = Session()
    assert current_floor(s.state) == []
    s.do(HOST, "ros.start")
    assert current_floor(s.state) == items_floor(0)
    s.do(HOST, "ros.end")
    assert current_floor(s.state) == []


def test_the_floor_follows_the_current_item() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    for i in range(1, len(AGENDA.items)):
        s.wait(60)
        s.do(HOST, "ros.next")
        assert current_floor(s.state) == items_floor(i)


def test_an_override_lasts_until_the_next_item_and_is_in_agenda_order() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    given = list(reversed(AGENDA.site_ids))[:2]
    s.do(HOST, "floor.give", sites=given)
    assert current_floor(s.state) == [x for x in AGENDA.site_ids if x in given]
    s.do(HOST, "ros.next")
    assert floor_state(s.state).override is None
    assert current_floor(s.state) == items_floor(1)


def test_clear_returns_the_floor_to_the_agenda_and_refuses_when_nothing_to_clear() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    with pytest.raises(InvalidState):
        s.do(HOST, "floor.clear")
    s.do(HOST, "floor.give", sites=[AGENDA.site_ids[-1]])
    s.do(HOST, "floor.clear")
    assert current_floor(s.state) == items_floor(0)


def test_give_refuses_unknown_sites_a_conference_not_running_and_other_roles() -> None:
    s = Session()
    with pytest.raises(InvalidState):
        s.do(HOST, "floor.give", sites=[AGENDA.site_ids[0]])
    s.do(HOST, "ros.start")
    with pytest.raises(BadRequest) as info:
        s.do(HOST, "floor.give", sites=["atlantis"])
    assert "atlantis" in str(info.value)
    with pytest.raises(DomainError):
        s.do(MODERATOR, "floor.give", sites=[AGENDA.site_ids[0]])
    assert floor_state(s.state).override is None


def test_the_question_on_air_joins_the_floor_and_leaves_it() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    extra = next(x for x in AGENDA.site_ids if x not in AGENDA.items[0].floor)
    s.fold([on_air_event([extra])])
    assert extra in current_floor(s.state)
    assert set(items_floor(0)) <= set(current_floor(s.state))
    s.fold([on_air_event([])])
    assert current_floor(s.state) == items_floor(0)


def test_the_log_has_one_entry_per_change_of_the_floor() -> None:
    s = Session()
    s.do(HOST, "ros.start")
    s.wait(10)
    s.do(HOST, "floor.give", sites=items_floor(0))  # the same sites: no change to log
    s.wait(10)
    s.do(HOST, "floor.give", sites=[AGENDA.site_ids[-1]])
    log = floor_state(s.state).log
    assert [sites for _, sites in log] == [items_floor(0), [AGENDA.site_ids[-1]]]
    assert log[0][0] < log[1][0]
