"""The run of show: the conference clock, item by item.

Theory of operation: everything that changes the clock lives in this file, and this
file knows nothing of I/O. The status moves by the table ``TRANSITIONS``; a command that
is not in the table for the current status is refused with an error naming both. Each
item keeps its planned minutes (plus extensions) and its actual segments of time (an
item can be reopened with ``previous`` or ``jump``); pauses are subtracted. From these
come the overrun of the current item and the predicted end of the conference.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydantic import Field

from confsvc.core.conference import (
    EVERYONE,
    CommandSpec,
    ConferenceState,
    Message,
    NoArgs,
    Part,
)
from confsvc.core.errors import BadRequest, InvalidState
from confsvc.core.events import Event, NewEvent, Principal
from confsvc.core.floor import current_floor
from confsvc.core.roles import Role
from confsvc.core.ros_state import (
    ENDED,
    PAUSED,
    PLANNED,
    RUNNING,
    ItemRun,
    RunOfShow,
    SeenArgs,
    check_seen,
    ros,
)

# The run of show's state is defined in ros_state (below the floor); its users import it
# from here, with the rules.
__all__ = [
    "ENDED",
    "PAUSED",
    "PLANNED",
    "RUNNING",
    "TRANSITIONS",
    "ItemRun",
    "RunOfShow",
    "SeenArgs",
    "check_seen",
    "ros",
]

# status -> command -> status after it. Anything missing is refused.
TRANSITIONS: dict[str, dict[str, str]] = {
    PLANNED: {"ros.start": RUNNING},
    RUNNING: {
        "ros.next": RUNNING,
        "ros.previous": RUNNING,
        "ros.jump": RUNNING,
        "ros.extend": RUNNING,
        "ros.pause": PAUSED,
        "ros.end": ENDED,
    },
    PAUSED: {
        "ros.resume": RUNNING,
        "ros.next": RUNNING,
        "ros.previous": RUNNING,
        "ros.jump": RUNNING,
        "ros.extend": PAUSED,
        "ros.end": ENDED,
    },
    ENDED: {},
}

MAX_EXTEND_MINUTES = 180


# -- derived figures -----------------------------------------------------------


def planned_s(state: ConferenceState, index: int) -> float:
    agenda = state.require_agenda()
    return (agenda.items[index].minutes + ros(state).items[index].extended_min) * 60.0


def actual_s(state: ConferenceState, index: int, now: float) -> float:
    """How long item ``index`` has actually run, pauses (the ongoing one too) left out."""
    r = ros(state)
    elapsed = r.items[index].elapsed_s(now)
    if index == r.current and r.paused_at is not None:
        elapsed -= now - r.paused_at
    return max(0.0, elapsed)


def current_elapsed_s(state: ConferenceState, now: float) -> float:
    r = ros(state)
    return 0.0 if r.current is None else actual_s(state, r.current, now)


def overrun_s(state: ConferenceState, now: float) -> float:
    r = ros(state)
    if r.current is None or r.status == ENDED:
        return 0.0
    return max(0.0, current_elapsed_s(state, now) - planned_s(state, r.current))


def planned_starts(state: ConferenceState) -> list[float]:
    """Planned start of every item (epoch seconds), from the agenda's start, no extensions."""
    agenda = state.require_agenda()
    t = agenda.conference.start.timestamp()
    out = []
    for item in agenda.items:
        out.append(t)
        t += item.minutes * 60.0
    return out


def predicted_end(state: ConferenceState, now: float) -> float:
    """When the conference will end if every item from now on takes its planned time."""
    r = ros(state)
    agenda = state.require_agenda()
    if r.status == ENDED and r.ended_at is not None:
        return r.ended_at
    if r.current is None:
        start = max(now, agenda.conference.start.timestamp())
        return start + sum(planned_s(state, i) for i in range(len(agenda.items)))
    remaining = max(0.0, planned_s(state, r.current) - current_elapsed_s(state, now))
    later = sum(planned_s(state, i) for i in range(r.current + 1, len(agenda.items)))
    return now + remaining + later


# -- commands ------------------------------------------------------------------


class JumpArgs(SeenArgs):
    item: str = Field(min_length=1, max_length=64)


class ExtendArgs(SeenArgs):
    minutes: float = Field(gt=0, le=MAX_EXTEND_MINUTES)


def _role_of(actor: str) -> str:
    """The role in an event's actor (``host/<invite>``, ``site:olsztyn/<invite>``)."""
    return actor.split("/", 1)[0].split(":", 1)[0]


def _check(state: ConferenceState, command: str) -> str:
    status = ros(state).status
    nxt = TRANSITIONS[status].get(command)
    if nxt is None:
        raise InvalidState.keyed("ros.not_now", action=command.removeprefix("ros."), status=status)
    return nxt


def _resume_first(state: ConferenceState) -> list[NewEvent]:
    return [NewEvent(type="ros.resumed")] if ros(state).status == PAUSED else []


def _move(state: ConferenceState, command: str, to: int) -> list[NewEvent]:
    _check(state, command)
    r = ros(state)
    return [*_resume_first(state), NewEvent(type="ros.moved", data={"from": r.current, "to": to})]


def _start(state: ConferenceState, args: NoArgs, who: Principal, now: float) -> list[NewEvent]:
    _check(state, "ros.start")
    return [NewEvent(type="ros.started")]


def _next(state: ConferenceState, args: SeenArgs, who: Principal, now: float) -> list[NewEvent]:
    check_seen(state, "ros.next", args.at_item)
    r = ros(state)
    _check(state, "ros.next")
    assert r.current is not None
    if r.current + 1 >= len(r.items):
        raise InvalidState.keyed("ros.last_item")
    return _move(state, "ros.next", r.current + 1)


def _previous(state: ConferenceState, args: SeenArgs, who: Principal, now: float) -> list[NewEvent]:
    check_seen(state, "ros.previous", args.at_item)
    r = ros(state)
    _check(state, "ros.previous")
    assert r.current is not None
    if r.current == 0:
        raise InvalidState.keyed("ros.first_item")
    return _move(state, "ros.previous", r.current - 1)


def _jump(state: ConferenceState, args: JumpArgs, who: Principal, now: float) -> list[NewEvent]:
    index = state.require_agenda().item_index(args.item)
    if index is None:
        raise BadRequest.keyed("ros.no_item", item=args.item, field="args.item")
    check_seen(state, "ros.jump", args.at_item)
    _check(state, "ros.jump")
    if index == ros(state).current:
        raise InvalidState.keyed("ros.already_current", item=args.item)
    return _move(state, "ros.jump", index)


def _extend(state: ConferenceState, args: ExtendArgs, who: Principal, now: float) -> list[NewEvent]:
    check_seen(state, "ros.extend", args.at_item)
    _check(state, "ros.extend")
    r = ros(state)
    assert r.current is not None
    if r.items[r.current].extended_min + args.minutes > MAX_EXTEND_MINUTES:
        raise BadRequest.keyed("ros.extend_limit", minutes=MAX_EXTEND_MINUTES, field="args.minutes")
    return [NewEvent(type="ros.extended", data={"item": r.current, "minutes": args.minutes})]


def _pause(state: ConferenceState, args: SeenArgs, who: Principal, now: float) -> list[NewEvent]:
    check_seen(state, "ros.pause", args.at_item)
    _check(state, "ros.pause")
    return [NewEvent(type="ros.paused")]


def _resume(state: ConferenceState, args: SeenArgs, who: Principal, now: float) -> list[NewEvent]:
    check_seen(state, "ros.resume", args.at_item)
    _check(state, "ros.resume")
    return [NewEvent(type="ros.resumed")]


def _end(state: ConferenceState, args: SeenArgs, who: Principal, now: float) -> list[NewEvent]:
    check_seen(state, "ros.end", args.at_item)
    _check(state, "ros.end")
    return [*_resume_first(state), NewEvent(type="ros.ended")]


# -- fold ----------------------------------------------------------------------


def _on_created(state: ConferenceState, event: Event) -> None:
    r = ros(state)
    if r.status == PLANNED:
        r.items = [ItemRun() for _ in state.require_agenda().items]


def _on_started(state: ConferenceState, event: Event) -> None:
    r = ros(state)
    r.status, r.current, r.started_at = RUNNING, 0, event.at
    r.moved_by = _role_of(event.actor)
    r.items[0].segments.append([event.at, None])


def _on_moved(state: ConferenceState, event: Event) -> None:
    r = ros(state)
    if r.current is not None:
        r.items[r.current].segments[-1][1] = event.at
    r.current = int(event.data["to"])
    r.items[r.current].segments.append([event.at, None])
    r.status = RUNNING
    r.moved_by = _role_of(event.actor)


def _on_extended(state: ConferenceState, event: Event) -> None:
    minutes = float(event.data["minutes"])
    if math.isfinite(minutes):  # a log from before ExtendArgs had its range still folds
        ros(state).items[int(event.data["item"])].extended_min += minutes


def _on_paused(state: ConferenceState, event: Event) -> None:
    r = ros(state)
    r.status, r.paused_at = PAUSED, event.at
    r.pauses.append([event.at, None])


def _on_resumed(state: ConferenceState, event: Event) -> None:
    r = ros(state)
    assert r.paused_at is not None and r.current is not None
    r.items[r.current].paused_s += event.at - r.paused_at
    r.pauses[-1][1] = event.at
    r.status, r.paused_at = RUNNING, None


def _on_ended(state: ConferenceState, event: Event) -> None:
    r = ros(state)
    if r.current is not None:
        r.items[r.current].segments[-1][1] = event.at
    r.status, r.ended_at = ENDED, event.at
    r.moved_by = _role_of(event.actor)


# -- views ---------------------------------------------------------------------


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def view(state: ConferenceState, now: float) -> dict[str, Any]:
    """The run of show as every page shows it (nothing private in it)."""
    agenda = state.require_agenda()
    r = ros(state)
    starts = planned_starts(state)
    items = []
    for i, item in enumerate(agenda.items):
        run = r.items[i]
        elapsed = actual_s(state, i, now)
        items.append(
            {
                "id": item.id,
                "kind": item.kind,
                "title": item.title,
                "speaker": item.speaker,
                "floor": item.floor,
                "planned_start": starts[i],
                "planned_s": item.minutes * 60.0,
                "extended_s": run.extended_min * 60.0,
                "actual_start": run.actual_start,
                "actual_end": run.actual_end if i != r.current or r.status == ENDED else None,
                "actual_s": elapsed if run.segments else None,
            }
        )
    return {
        "now": now,
        "status": r.status,
        "current": r.current,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "paused_at": r.paused_at,
        "current_elapsed_s": current_elapsed_s(state, now),
        "current_planned_s": planned_s(state, r.current) if r.current is not None else None,
        "overrun_s": overrun_s(state, now),
        "predicted_end": predicted_end(state, now),
        "planned_end": starts[-1] + agenda.items[-1].minutes * 60.0,
        "floor": current_floor(state),
        "items": items,
    }


def _snapshot(state: ConferenceState, who: Principal, now: float) -> dict[str, Any] | None:
    return view(state, now) if state.exists else None


def _messages(state: ConferenceState, event: Event) -> list[Message]:
    if event.type.startswith(("ros.", "floor.", "conference.")):
        return [
            Message(
                audience=EVERYONE,
                payload={"type": "ros", "ros": view(state, event.at)},
                coalesce=True,
            )
        ]
    return []


HOST = frozenset({Role.HOST})

PART = Part(
    name="ros",
    init=RunOfShow,
    commands={
        "ros.start": CommandSpec(
            roles=HOST, args=NoArgs, decide=_start, doc="Start the first item."
        ),
        "ros.next": CommandSpec(
            roles=HOST, args=SeenArgs, decide=_next, doc="Go to the next item."
        ),
        "ros.previous": CommandSpec(
            roles=HOST, args=SeenArgs, decide=_previous, doc="Go back to the previous item."
        ),
        "ros.jump": CommandSpec(roles=HOST, args=JumpArgs, decide=_jump, doc="Go to an item."),
        "ros.extend": CommandSpec(
            roles=HOST, args=ExtendArgs, decide=_extend, doc="Extend the current item."
        ),
        "ros.pause": CommandSpec(roles=HOST, args=SeenArgs, decide=_pause, doc="Pause the clock."),
        "ros.resume": CommandSpec(
            roles=HOST, args=SeenArgs, decide=_resume, doc="Resume the clock."
        ),
        "ros.end": CommandSpec(roles=HOST, args=SeenArgs, decide=_end, doc="End the conference."),
    },
    reducers={
        "conference.created": _on_created,
        "conference.agenda_loaded": _on_created,
        "ros.started": _on_started,
        "ros.moved": _on_moved,
        "ros.extended": _on_extended,
        "ros.paused": _on_paused,
        "ros.resumed": _on_resumed,
        "ros.ended": _on_ended,
    },
    snapshot=_snapshot,
    messages=_messages,
)
