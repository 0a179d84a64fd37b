"""The run of show's state, and the check that a command was decided on the current item.

Below both the run of show's rules (``confsvc.core.runofshow``, which re-exports all of
this) and the floor (``confsvc.core.floor``, which reads the current item): the run of
show's view shows the floor, and the floor follows the current item, so the state they
share lives here and neither module imports the other's rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from pydantic import Field

from confsvc.core.conference import Args, ConferenceState
from confsvc.core.errors import Stale

PLANNED, RUNNING, PAUSED, ENDED = "planned", "running", "paused", "ended"


@dataclass(slots=True)
class ItemRun:
    """What actually happened to one agenda item."""

    extended_min: float = 0.0
    segments: list[list[float | None]] = field(default_factory=list)  # [start, end or None]
    paused_s: float = 0.0

    @property
    def actual_start(self) -> float | None:
        return cast(float, self.segments[0][0]) if self.segments else None

    @property
    def actual_end(self) -> float | None:
        if not self.segments or self.segments[-1][1] is None:
            return None
        return self.segments[-1][1]

    def elapsed_s(self, now: float) -> float:
        total = 0.0
        for start, end in self.segments:
            total += (now if end is None else end) - cast(float, start)
        return max(0.0, total - self.paused_s)


@dataclass(slots=True)
class RunOfShow:
    status: str = PLANNED
    current: int | None = None
    items: list[ItemRun] = field(default_factory=list)
    started_at: float | None = None
    ended_at: float | None = None
    paused_at: float | None = None
    pauses: list[list[float | None]] = field(default_factory=list)  # [start, end or None]
    moved_by: str | None = None  # the role that last started, moved or ended the clock


def ros(state: ConferenceState) -> RunOfShow:
    return cast(RunOfShow, state.parts["ros"])


class SeenArgs(Args):
    """A command on the current item. ``at_item``: the item the actor was looking at; when
    given and no longer current, the command is refused as ``Stale`` (two hosts pressing
    next at once move one item). Optional: clients that send none keep working."""

    at_item: str | None = Field(default=None, min_length=1, max_length=64)


def check_seen(state: ConferenceState, command: str, at_item: str | None) -> None:
    """Refuse ``command`` if it was decided on item ``at_item`` and the clock has moved."""
    if at_item is None:
        return
    r = ros(state)
    agenda = state.require_agenda()
    current = agenda.items[r.current] if r.current is not None else None
    if r.status != ENDED and current is not None and current.id == at_item:
        return
    by = f" by the {r.moved_by}" if r.moved_by else ""
    if r.status == ENDED:
        raise Stale(f"{command}: the conference was already ended{by}")
    if current is None:
        raise Stale.keyed("ros.stale_not_started", command=command, item=at_item)
    title = agenda.text(current.title, "en")  # the messages are English; else the default
    raise Stale(f"{command}: already moved to {title!r}{by}")
