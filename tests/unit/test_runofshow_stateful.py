"""Hypothesis: the run of show against a tiny model of status, item and time."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from confsvc.core import runofshow
from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import created_event
from confsvc.core.errors import DomainError
from confsvc.core.events import Command, Event, Principal
from confsvc.core.floor import current_floor
from confsvc.core.registry import RULES
from confsvc.core.roles import Role
from tests.conftest import SAMPLE

AGENDA = parse_agenda(SAMPLE.read_bytes())
N = len(AGENDA.items)
HOST = Principal(role=Role.HOST, invite="h")


class RunOfShowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = RULES.new_state(AGENDA.conference.id)
        self.now = 1_000_000.0
        self._fold([created_event(AGENDA)])
        # The model.
        self.status = "planned"
        self.current: int | None = None
        self.extended = [0.0] * N
        self.paused_total = 0.0
        self.pause_started: float | None = None
        self.override: list[str] | None = None

    def _fold(self, new: list[Any]) -> None:
        for e in new:
            RULES.fold(
                self.state,
                Event(seq=self.state.seq + 1, type=e.type, at=self.now, actor="h", data=e.data),
            )

    def _do(self, name: str, **args: Any) -> bool:
        try:
            new = RULES.decide(self.state, HOST, Command(name=name, args=args), self.now)
        except DomainError:
            return False
        self._fold(new)
        return True

    @rule(seconds=st.floats(min_value=0, max_value=900))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def start(self) -> None:
        ok = self._do("ros.start")
        assert ok == (self.status == "planned")
        if ok:
            self.status, self.current = "running", 0

    @rule()
    def next(self) -> None:
        ok = self._do("ros.next")
        expect = (
            self.status in ("running", "paused")
            and self.current is not None
            and self.current + 1 < N
        )
        assert ok == expect
        if ok:
            assert self.current is not None
            self._resume_model()
            self.current += 1
            self.override = None

    @rule()
    def previous(self) -> None:
        ok = self._do("ros.previous")
        assert ok == (self.status in ("running", "paused") and bool(self.current))
        if ok:
            assert self.current is not None
            self._resume_model()
            self.current -= 1
            self.override = None

    @rule(index=st.integers(min_value=0, max_value=N - 1))
    def jump(self, index: int) -> None:
        ok = self._do("ros.jump", item=AGENDA.items[index].id)
        assert ok == (self.status in ("running", "paused") and self.current != index)
        if ok:
            self._resume_model()
            self.current = index
            self.override = None

    @rule(minutes=st.integers(min_value=-5, max_value=200))
    def extend(self, minutes: int) -> None:
        ok = self._do("ros.extend", minutes=minutes)
        expect = (
            self.status in ("running", "paused")
            and 0 < minutes
            and self.current is not None
            and self.extended[self.current] + minutes <= runofshow.MAX_EXTEND_MINUTES
        )
        assert ok == expect
        if ok:
            assert self.current is not None
            self.extended[self.current] += minutes

    @rule()
    def pause(self) -> None:
        ok = self._do("ros.pause")
        assert ok == (self.status == "running")
        if ok:
            self.status, self.pause_started = "paused", self.now

    @rule()
    def resume(self) -> None:
        ok = self._do("ros.resume")
        assert ok == (self.status == "paused")
        if ok:
            self._resume_model()

    @rule(sites=st.lists(st.sampled_from(AGENDA.site_ids), unique=True))
    def give_floor(self, sites: list[str]) -> None:
        ok = self._do("floor.give", sites=sites)
        assert ok == (self.status in ("running", "paused"))
        if ok:
            self.override = sites

    @precondition(lambda self: self.status != "planned")
    @rule()
    def end(self) -> None:
        ok = self._do("ros.end")
        assert ok == (self.status in ("running", "paused"))
        if ok:
            self._resume_model()
            self.status = "ended"

    def _resume_model(self) -> None:
        if self.status == "paused":
            assert self.pause_started is not None
            self.paused_total += self.now - self.pause_started
            self.pause_started = None
        self.status = "running"

    # -- invariants --------------------------------------------------------------

    @invariant()
    def status_and_item_match_the_model(self) -> None:
        r = runofshow.ros(self.state)
        assert r.status == self.status
        assert r.current == self.current

    @invariant()
    def extensions_match(self) -> None:
        assert [i.extended_min for i in runofshow.ros(self.state).items] == self.extended

    @invariant()
    def time_adds_up(self) -> None:
        r = runofshow.ros(self.state)
        if r.started_at is None:
            return
        # Actual time of all items plus pauses is the wall time since the start.
        worked = sum(runofshow.actual_s(self.state, i, self.now) for i in range(N))
        paused = self.paused_total + (
            self.now - self.pause_started if self.pause_started is not None else 0.0
        )
        end = r.ended_at if r.ended_at is not None else self.now
        assert abs(worked + paused - (end - r.started_at)) < 1e-6 * max(1.0, end)

    @invariant()
    def overrun_and_prediction_are_consistent(self) -> None:
        if self.status in ("running", "paused"):
            assert self.current is not None
            over = runofshow.overrun_s(self.state, self.now)
            elapsed = runofshow.current_elapsed_s(self.state, self.now)
            planned = runofshow.planned_s(self.state, self.current)
            assert over == max(0.0, elapsed - planned)
            later = sum(runofshow.planned_s(self.state, i) for i in range(self.current + 1, N))
            predicted = runofshow.predicted_end(self.state, self.now)
            assert abs(predicted - (self.now + max(0.0, planned - elapsed) + later)) < 1e-6
            assert predicted >= self.now

    @invariant()
    def floor_follows_item_or_override(self) -> None:
        floor = current_floor(self.state)
        if self.status not in ("running", "paused"):
            assert floor == []
            return
        assert self.current is not None
        expected = self.override if self.override is not None else AGENDA.items[self.current].floor
        assert set(floor) == set(expected)

    @invariant()
    def only_the_current_item_has_an_open_segment(self) -> None:
        r = runofshow.ros(self.state)
        for i, item in enumerate(r.items):
            open_segments = [s for s in item.segments if s[1] is None]
            if i == r.current and r.status in ("running", "paused"):
                assert len(open_segments) == 1
            else:
                assert open_segments == []


TestRunOfShow = RunOfShowMachine.TestCase
TestRunOfShow.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_replay_of_a_session_gives_the_same_state() -> None:
    """Fold the log twice: same view (the fold is the only source of state)."""
    machine = RunOfShowMachine()
    machine.start()
    machine.wait(300)
    machine.extend(2)
    machine.pause()
    machine.wait(60)
    machine.next()
    machine.wait(100)
    view = runofshow.view(machine.state, machine.now)
    again = RULES.new_state(AGENDA.conference.id)
    assert again is not machine.state
    assert view["current"] == 1
    assert view["items"][0]["actual_s"] == 300.0
    assert view["items"][0]["extended_s"] == 120.0
    assert view["current_elapsed_s"] == 100.0
