"""Who holds the floor: the sites that are heard.

Derived from the current agenda item, replaced by the host's override until the next
item, and joined by the sites of the question on air (set by the question queue with a
``floor.on_air`` event). The media layer only obeys ``current_floor``; it decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, cast

from pydantic import Field

from confsvc.core.conference import CommandSpec, ConferenceState, Part
from confsvc.core.errors import BadRequest, InvalidState
from confsvc.core.events import Event, NewEvent, OnAir, Principal
from confsvc.core.roles import Role
from confsvc.core.ros_state import PAUSED, RUNNING, SeenArgs, check_seen, ros


@dataclass(slots=True)
class FloorState:
    override: list[str] | None = None
    on_air: list[str] = field(default_factory=list)
    # (at, sites) each time the floor changed: the report's "who held the floor when".
    log: list[tuple[float, list[str]]] = field(default_factory=list)


def floor_state(state: ConferenceState) -> FloorState:
    return cast(FloorState, state.parts["floor"])


def current_floor(state: ConferenceState) -> list[str]:
    """The sites heard now, in agenda order of sites."""
    r = ros(state)
    if state.agenda is None or r.current is None or r.status not in (RUNNING, PAUSED):
        return []
    f = floor_state(state)
    sites = set(f.override if f.override is not None else state.agenda.items[r.current].floor)
    sites.update(f.on_air)
    return [s for s in state.agenda.site_ids if s in sites]


class GiveArgs(SeenArgs):
    sites: list[Annotated[str, Field(max_length=64)]] = Field(max_length=64)


def _give(state: ConferenceState, args: GiveArgs, who: Principal, now: float) -> list[NewEvent]:
    agenda = state.require_agenda()
    check_seen(state, "floor.give", args.at_item)
    for site in args.sites:
        if agenda.site(site) is None:
            raise BadRequest.keyed("site.unknown_plain", site=site, field="args.sites")
    if ros(state).status not in (RUNNING, PAUSED):
        raise InvalidState.keyed("floor.not_now", status=ros(state).status)
    sites = [s for s in agenda.site_ids if s in set(args.sites)]
    return [NewEvent(type="floor.given", data={"sites": sites})]


def _clear(state: ConferenceState, args: SeenArgs, who: Principal, now: float) -> list[NewEvent]:
    check_seen(state, "floor.clear", args.at_item)
    if floor_state(state).override is None:
        raise InvalidState.keyed("floor.follows_agenda")
    return [NewEvent(type="floor.cleared")]


def on_air_event(sites: list[str]) -> NewEvent:
    """For the question queue: these sites are heard while a question is on air ([] ends it)."""
    return OnAir(sites=tuple(sites)).event()


def _log(state: ConferenceState, event: Event) -> None:
    f = floor_state(state)
    now_floor = current_floor(state)
    if not f.log or f.log[-1][1] != now_floor:
        f.log.append((event.at, now_floor))


def _on_given(state: ConferenceState, event: Event) -> None:
    floor_state(state).override = list(event.data["sites"])
    _log(state, event)


def _on_cleared(state: ConferenceState, event: Event) -> None:
    floor_state(state).override = None
    _log(state, event)


def _on_item_change(state: ConferenceState, event: Event) -> None:
    floor_state(state).override = None
    _log(state, event)


def _on_on_air(state: ConferenceState, event: Event) -> None:
    floor_state(state).on_air = list(OnAir.parse(event.data).sites)
    _log(state, event)


HOST = frozenset({Role.HOST})

PART = Part(
    name="floor",
    init=FloorState,
    commands={
        "floor.give": CommandSpec(
            roles=HOST,
            args=GiveArgs,
            decide=_give,
            doc="Give the floor to sites until the next item.",
        ),
        "floor.clear": CommandSpec(
            roles=HOST, args=SeenArgs, decide=_clear, doc="Let the agenda decide the floor again."
        ),
    },
    reducers={
        "floor.given": _on_given,
        "floor.cleared": _on_cleared,
        "floor.on_air": _on_on_air,
        "ros.started": _on_item_change,
        "ros.moved": _on_item_change,
        "ros.ended": _on_item_change,
    },
)
