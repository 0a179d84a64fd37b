"""Garbage commands give a DomainError naming the problem, never another exception,
and never change the state."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from confsvc.core.agenda import parse_agenda
from confsvc.core.conference import created_event
from confsvc.core.errors import DomainError
from confsvc.core.events import Command, Event, Principal
from confsvc.core.registry import RULES
from confsvc.core.roles import Role
from tests.conftest import SAMPLE

AGENDA = parse_agenda(SAMPLE.read_bytes())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from(sorted(RULES.commands)) | st.text(max_size=20)
roles = st.sampled_from([r for r in Role if r is not Role.SYSTEM])


def fresh() -> Any:
    state = RULES.new_state(AGENDA.conference.id)
    e = created_event(AGENDA)
    RULES.fold(state, Event(seq=1, type=e.type, at=0.0, actor="system", data=e.data))
    return state


@settings(max_examples=400, deadline=None)
@given(
    name=names,
    args=st.dictionaries(st.text(max_size=12), json_values, max_size=5) | st.builds(dict),
    role=roles,
    site=st.sampled_from([None, "warsaw", "nowhere"]),
)
def test_garbage_commands_raise_domain_errors_only(
    name: str, args: dict[str, Any], role: Role, site: str | None
) -> None:
    state = fresh()
    who = Principal(role=role, invite="fuzz", site=site if role is Role.SITE else None)
    try:
        new = RULES.decide(state, who, Command(name=name, args=args), 100.0)
    except DomainError as exc:
        assert exc.message
        assert state.seq == 1  # deciding never changes the state
        return
    # Accepted: the events must fold cleanly.
    for n, e in enumerate(new, start=2):
        RULES.fold(state, Event(seq=n, type=e.type, at=100.0, actor=who.actor, data=e.data))
