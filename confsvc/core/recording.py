"""The recording: whether the conference is being recorded, its takes and their pauses.

Theory of operation: everything that decides whether the media is written lives in this
file, and this file knows nothing of files or media. The status moves by the table
``TRANSITIONS`` (off → recording ⇄ paused → stopped → recording again: a new take); a
command missing from the table for the status is refused with an error naming both.

Privacy: nothing is recorded unless the agenda says ``conference.recording: true`` (then
the recording starts with the run of show's ``ros.started``, as part of that event's
fold: no second event) or a host starts it (``rec.start``). The run of show's end
(``ros.ended``) stops it; a stopped recording takes no ``rec.start`` once the conference
has ended. Who may run these commands is ``permissions.Permission.RECORD``.

The media side (``confsvc.media.recorder``) only obeys ``recording(state).status``; the
report reads the takes to say what was recorded and when; chapters come from the run of
show's segments (``chapters``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import Field

from confsvc.core.conference import EVERYONE, Args, CommandSpec, ConferenceState, Message, Part
from confsvc.core.errors import InvalidState, Stale
from confsvc.core.events import Event, NewEvent, Principal
from confsvc.core.permissions import Permission, roles_with
from confsvc.core.runofshow import ENDED, ros

OFF, RECORDING, PAUSED, STOPPED = "off", "recording", "paused", "stopped"

# status -> command -> status after it. Anything missing is refused.
TRANSITIONS: dict[str, dict[str, str]] = {
    OFF: {"rec.start": RECORDING},
    RECORDING: {"rec.pause": PAUSED, "rec.stop": STOPPED},
    PAUSED: {"rec.resume": RECORDING, "rec.stop": STOPPED},
    STOPPED: {"rec.start": RECORDING},
}
EVENT_OF = {
    "rec.start": "rec.started",
    "rec.pause": "rec.paused",
    "rec.resume": "rec.resumed",
    "rec.stop": "rec.stopped",
}
ACTION = {"rec.start": "start", "rec.pause": "pause", "rec.resume": "resume", "rec.stop": "stop"}


@dataclass(slots=True)
class Take:
    """One stretch from a start to a stop; the recorder writes one set of files per take."""

    number: int  # 1, 2, … in the order they were started
    started_at: float
    by: str  # "agenda" (with the run of show) or the actor's role ("host")
    stopped_at: float | None = None
    pauses: list[list[float | None]] = field(default_factory=list)  # [start, end or None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "by": self.by,
            "pauses": [list(p) for p in self.pauses],
        }


@dataclass(slots=True)
class RecordingState:
    status: str = OFF
    takes: list[Take] = field(default_factory=list)

    @property
    def take(self) -> Take | None:
        """The take under way (recording or paused), else ``None``."""
        if self.status in (RECORDING, PAUSED) and self.takes:
            return self.takes[-1]
        return None


def recording(state: ConferenceState) -> RecordingState:
    return cast(RecordingState, state.parts["recording"])


def enabled_by_agenda(state: ConferenceState) -> bool:
    agenda = state.agenda
    return agenda is not None and bool(agenda.conference.recording)


# -- commands ------------------------------------------------------------------


class RecArgs(Args):
    """``from_status``: the status the actor saw; a command decided on another is stale."""

    from_status: str | None = Field(default=None, max_length=16)


def _decide(command: str) -> Any:
    def decide(state: ConferenceState, args: RecArgs, who: Principal, now: float) -> list[NewEvent]:
        rec = recording(state)
        status = rec.status
        if args.from_status is not None and args.from_status != status:
            raise Stale.keyed("rec.stale", command=command, status=status)
        if TRANSITIONS[status].get(command) is None:
            raise InvalidState.keyed("rec.not_now", action=ACTION[command], status=status)
        if command == "rec.start" and ros(state).status == ENDED:
            raise InvalidState.keyed("rec.after_end")
        return [NewEvent(type=EVENT_OF[command], data={})]

    return decide


def _role_of(actor: str) -> str:
    return actor.split("/", 1)[0].split(":", 1)[0]


# -- fold ----------------------------------------------------------------------


def _start_take(rec: RecordingState, at: float, by: str) -> None:
    rec.takes.append(Take(number=len(rec.takes) + 1, started_at=at, by=by))
    rec.status = RECORDING


def _stop_take(rec: RecordingState, at: float) -> None:
    take = rec.take
    if take is None:
        return
    if take.pauses and take.pauses[-1][1] is None:
        take.pauses[-1][1] = at
    take.stopped_at = at
    rec.status = STOPPED


def _on_started(state: ConferenceState, event: Event) -> None:
    _start_take(recording(state), event.at, _role_of(event.actor))


def _on_paused(state: ConferenceState, event: Event) -> None:
    rec = recording(state)
    if rec.take is not None:
        rec.take.pauses.append([event.at, None])
        rec.status = PAUSED


def _on_resumed(state: ConferenceState, event: Event) -> None:
    rec = recording(state)
    take = rec.take
    if take is not None and take.pauses:
        take.pauses[-1][1] = event.at
        rec.status = RECORDING


def _on_stopped(state: ConferenceState, event: Event) -> None:
    _stop_take(recording(state), event.at)


def _on_ros_started(state: ConferenceState, event: Event) -> None:
    rec = recording(state)
    if enabled_by_agenda(state) and rec.status == OFF:
        _start_take(rec, event.at, "agenda")


def _on_ros_ended(state: ConferenceState, event: Event) -> None:
    _stop_take(recording(state), event.at)


# -- views ---------------------------------------------------------------------


def view(state: ConferenceState) -> dict[str, Any]:
    """What every page shows (the REC notice) and the report reads: nothing private."""
    rec = recording(state)
    take = rec.take
    return {
        "status": rec.status,
        "since": take.started_at if take is not None else None,
        "agenda": enabled_by_agenda(state),
        "takes": [t.as_dict() for t in rec.takes],
    }


def media_s(take: Take, at: float) -> float:
    """Seconds of media a take's files hold before wall time ``at``: from its start, less
    its pauses (nothing is written while paused, and the files have no gap for them)."""
    end = at if take.stopped_at is None else min(at, take.stopped_at)
    total = max(0.0, end - take.started_at)
    for start, stop in take.pauses:
        assert start is not None
        lo, hi = max(start, take.started_at), min(end, stop if stop is not None else end)
        total -= max(0.0, hi - lo)
    return max(0.0, total)


def chapters(state: ConferenceState, take: Take, now: float) -> list[dict[str, Any]]:
    """The agenda items run during ``take``: id, titles, start and end in seconds of the
    take's media (``media_s``: pauses left out; an item reopened later gets one more)."""
    agenda = state.require_agenda()
    end_of_take = take.stopped_at if take.stopped_at is not None else now
    out: list[dict[str, Any]] = []
    for i, run in enumerate(ros(state).items):
        item = agenda.items[i]
        for start, end in run.segments:
            assert start is not None
            stop = end if end is not None else end_of_take
            lo, hi = max(start, take.started_at), min(stop, end_of_take)
            if hi <= lo and not (lo == take.started_at and end is None):
                continue
            out.append(
                {
                    "item": item.id,
                    "title": item.title,
                    "start_s": round(media_s(take, lo), 3),
                    "end_s": round(media_s(take, max(hi, lo)), 3),
                }
            )
    out.sort(key=lambda c: float(c["start_s"]))
    return out


def take_at(state: ConferenceState, at: float) -> Take | None:
    """The take under way at wall time ``at`` (a moment while it was paused included)."""
    for take in recording(state).takes:
        if take.started_at <= at and (take.stopped_at is None or at <= take.stopped_at):
            return take
    return None


def program_at(state: ConferenceState, at: float | None) -> dict[str, Any] | None:
    """Where wall time ``at`` is in the program: the take and seconds into its media."""
    take = take_at(state, at) if at is not None else None
    if take is None or at is None:
        return None
    return {"take": take.number, "s": round(media_s(take, at), 3)}


# What a take records, for the report (docs/recording.md): each site's camera, its
# sound only while it held the floor (no one heard it otherwise), and the program.
RECORDED = ("site_video", "site_audio_on_floor", "program")


def report_view(state: ConferenceState) -> dict[str, Any]:
    """The report's account of the recording: whether and when, and what it holds."""
    return {**view(state), "recorded": list(RECORDED) if recording(state).takes else []}


def _snapshot(state: ConferenceState, who: Principal, now: float) -> dict[str, Any] | None:
    return view(state) if state.exists else None


def _messages(state: ConferenceState, event: Event) -> list[Message]:
    if event.type.startswith("rec.") or event.type in ("ros.started", "ros.ended"):
        return [
            Message(
                audience=EVERYONE,
                payload={"type": "recording", "recording": view(state)},
                coalesce=True,
            )
        ]
    return []


RECORDERS = roles_with(Permission.RECORD)
_DOCS = {
    "rec.start": "Start recording (a new take); the agenda's recording: true starts it "
    "with the run of show.",
    "rec.pause": "Pause the recording: nothing is written until it is resumed.",
    "rec.resume": "Resume a paused recording.",
    "rec.stop": "Stop the recording (the run of show's end stops it too).",
}


def _specs() -> dict[str, CommandSpec]:
    return {
        name: CommandSpec(roles=RECORDERS, args=RecArgs, decide=_decide(name), doc=doc)
        for name, doc in _DOCS.items()
    }


PART = Part(
    name="recording",
    init=RecordingState,
    commands=_specs(),
    reducers={
        "rec.started": _on_started,
        "rec.paused": _on_paused,
        "rec.resumed": _on_resumed,
        "rec.stopped": _on_stopped,
        "ros.started": _on_ros_started,
        "ros.ended": _on_ros_ended,
    },
    snapshot=_snapshot,
    messages=_messages,
)
