"""A conference driven through the core alone, with a clock the test moves: decide, then
fold, as the hub does (no store, no I/O). Shared by the core's unit tests."""

from __future__ import annotations

from typing import Any

from confsvc.core.agenda import Agenda, parse_agenda
from confsvc.core.conference import ConferenceState, created_event
from confsvc.core.events import Command, Event, NewEvent, Principal
from confsvc.core.registry import RULES
from confsvc.core.roles import Role
from tests.conftest import SAMPLE

AGENDA: Agenda = parse_agenda(SAMPLE.read_bytes())
HOST = Principal(role=Role.HOST, invite="host-1")
MODERATOR = Principal(role=Role.MODERATOR, invite="mod-1")
PARTICIPANT = Principal(role=Role.PARTICIPANT, invite="part-1")


class Session:
    def __init__(self, agenda: Agenda = AGENDA, now: float = 1_000_000.0) -> None:
        self.agenda = agenda
        self.now = now
        self.state: ConferenceState = RULES.new_state(agenda.conference.id)
        self.fold([created_event(agenda)])

    def fold(self, new: list[NewEvent], actor: str = "system") -> None:
        for e in new:
            RULES.fold(
                self.state,
                Event(seq=self.state.seq + 1, type=e.type, at=self.now, actor=actor, data=e.data),
            )

    def do(self, who: Principal, command: str, **args: Any) -> list[NewEvent]:
        """Decide and fold; a refusal raises the core's DomainError."""
        new = RULES.decide(self.state, who, Command(name=command, args=args), self.now)
        self.fold(new, actor=who.invite or who.role.value)
        return new

    def wait(self, seconds: float) -> None:
        self.now += seconds
