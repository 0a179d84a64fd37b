"""Interpretation channels: who is live in each booth, coughs, handovers, and the record.

Theory of operation. The agenda's ``interpretation:`` section names the channels (one
per language) and the interpreters, each speaking into one channel (``into``). A channel
is a booth: any number of interpreters (two is usual), at most one *live*. Everything
that changes a booth is here and knows nothing of media:

- ``interp.take``: an interpreter goes live in their own channel. Taking over from the
  partner is the same one press: the partner is off air in the same event. ``seen`` is
  the live interpreter the presser saw ("" for nobody); when somebody else took the
  booth meanwhile, the press is refused as ``Stale`` (two partners pressing at once hand
  over once).
- ``interp.release``: the live interpreter leaves the air (the channel falls silent and
  listeners hear the original); the host may release any channel.
- ``interp.cough``: the live interpreter mutes the channel while the button is held
  (``on``), and unmutes it (``off``); a handover ends a cough.

``on_air`` is what the media layer obeys (channel → the interpreter whose audio is
forwarded); a coughing channel forwards nothing. Every live span is kept as a ``Turn``
for the report (a lane per channel, the minutes of each interpreter).

Not for who *hears* which channel: a listener's choice is their own connection's
(``confsvc.media``, ``rtc.channel``), never an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import Field

from confsvc.core.agenda import Agenda, Interpretation, Interpreter
from confsvc.core.conference import (
    Args,
    Audience,
    CommandSpec,
    ConferenceState,
    Message,
    Part,
)
from confsvc.core.errors import BadRequest, Forbidden, InvalidState, Stale
from confsvc.core.events import Event, NewEvent, Principal
from confsvc.core.permissions import Permission, may
from confsvc.core.roles import Role

INTERPRETERS = frozenset({Role.INTERPRETER})
RELEASERS = frozenset({Role.INTERPRETER, Role.HOST})
# Who sees each booth's interpreters by name; everybody else sees only which channels
# are live (what a listener needs to pick one).
BOOTH_VIEWERS = frozenset({Role.HOST, Role.MODERATOR, Role.INTERPRETER})


@dataclass(slots=True)
class Booth:
    """One channel's booth now."""

    live: str | None = None  # the interpreter on air
    since: float | None = None
    coughing: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    """One interpreter live in one channel, from ``start`` to ``end`` (None: still live)."""

    channel: str
    interpreter: str
    start: float
    end: float | None = None
    cough_s: float = 0.0


@dataclass(slots=True)
class InterpretationState:
    booths: dict[str, Booth] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)
    cough_started: dict[str, float] = field(default_factory=dict)  # channel -> since


def interp_state(state: ConferenceState) -> InterpretationState:
    return cast(InterpretationState, state.parts["interpretation"])


def section(state: ConferenceState) -> Interpretation | None:
    return state.agenda.interpretation if state.agenda is not None else None


def on_air(state: ConferenceState) -> dict[str, str]:
    """Channel → interpreter whose audio the media layer forwards (none while coughing)."""
    return {
        channel: booth.live
        for channel, booth in interp_state(state).booths.items()
        if booth.live is not None and not booth.coughing
    }


def live_channels(state: ConferenceState) -> list[str]:
    """The channels somebody is live in, in agenda order (coughing counts as live)."""
    interpretation = section(state)
    if interpretation is None:
        return []
    booths = interp_state(state).booths
    return [c for c in interpretation.channels if c in booths and booths[c].live is not None]


# -- commands --------------------------------------------------------------------------


class TakeArgs(Args):
    seen: str | None = Field(default=None, max_length=64)
    """The live interpreter the presser saw ("" for nobody); None: do not check."""


class ReleaseArgs(Args):
    channel: str | None = Field(default=None, max_length=16)
    """The host names the channel; an interpreter releases their own (and names none)."""


class CoughArgs(Args):
    on: bool


def _me(state: ConferenceState, who: Principal, command: str) -> Interpreter:
    """The agenda's interpreter behind ``who``, or the refusal naming why there is none."""
    interpretation = section(state)
    if interpretation is None:
        raise InvalidState(f"{command}: the agenda has no interpretation channels")
    if not may(who, Permission.INTERPRET) or who.interpreter is None:
        raise Forbidden(f"{command}: only an interpreter link speaks into a channel")
    me = interpretation.interpreter(who.interpreter)
    if me is None:
        raise Forbidden(f"{command}: interpreter {who.interpreter!r} is no longer in the agenda")
    return me


def _name(agenda: Agenda, interpreter: str | None) -> str:
    found = None
    if agenda.interpretation is not None and interpreter is not None:
        found = agenda.interpretation.interpreter(interpreter)
    return found.name if found is not None else str(interpreter)


def _take(state: ConferenceState, args: TakeArgs, who: Principal, now: float) -> list[NewEvent]:
    me = _me(state, who, "interp.take")
    booth = interp_state(state).booths.get(me.into, Booth())
    if booth.live == me.id:
        raise InvalidState(f"interp.take: you are already live in channel {me.into!r}")
    if args.seen is not None and (args.seen or None) != booth.live:
        now_live = _name(state.require_agenda(), booth.live) if booth.live else "nobody"
        raise Stale(f"interp.take: channel {me.into!r} has changed; {now_live} is live now")
    data: dict[str, Any] = {"channel": me.into, "interpreter": me.id, "from": booth.live}
    return [NewEvent(type="interp.live", data=data)]


def _release(
    state: ConferenceState, args: ReleaseArgs, who: Principal, now: float
) -> list[NewEvent]:
    if who.role is Role.INTERPRETER:
        me = _me(state, who, "interp.release")
        if args.channel is not None and args.channel != me.into:
            raise Forbidden(f"interp.release: you speak into {me.into!r}, not {args.channel!r}")
        booth = interp_state(state).booths.get(me.into, Booth())
        if booth.live != me.id:
            raise InvalidState(f"interp.release: you are not live in channel {me.into!r}")
        channel = me.into
    else:
        interpretation = section(state)
        if interpretation is None:
            raise InvalidState("interp.release: the agenda has no interpretation channels")
        if args.channel is None:
            raise BadRequest("interp.release: name the channel", field="args.channel")
        if args.channel not in interpretation.channels:
            raise BadRequest(
                f"interp.release: no channel {args.channel!r} "
                f"(channels: {', '.join(interpretation.channels)})",
                field="args.channel",
            )
        channel = args.channel
        booth = interp_state(state).booths.get(channel, Booth())
        if booth.live is None:
            raise InvalidState(f"interp.release: nobody is live in channel {channel!r}")
    return [NewEvent(type="interp.off", data={"channel": channel, "interpreter": booth.live})]


def _cough(state: ConferenceState, args: CoughArgs, who: Principal, now: float) -> list[NewEvent]:
    me = _me(state, who, "interp.cough")
    booth = interp_state(state).booths.get(me.into, Booth())
    if booth.live != me.id:
        raise InvalidState(
            f"interp.cough: you are not live in channel {me.into!r}; take the channel first"
        )
    if booth.coughing and args.on:
        raise InvalidState(f"interp.cough: channel {me.into!r} is muted already")
    if not booth.coughing and not args.on:
        raise InvalidState(f"interp.cough: channel {me.into!r} is on air already")
    return [
        NewEvent(
            type="interp.cough", data={"channel": me.into, "interpreter": me.id, "on": args.on}
        )
    ]


# -- fold ------------------------------------------------------------------------------


def _end_turn(s: InterpretationState, channel: str, at: float) -> None:
    """Close the channel's open turn (with its cough time), and the booth's live state."""
    booth = s.booths.get(channel)
    if booth is None or booth.live is None:
        return
    cough = s.cough_started.pop(channel, None)
    for n in range(len(s.turns) - 1, -1, -1):
        turn = s.turns[n]
        if turn.channel == channel and turn.end is None:
            extra = at - cough if cough is not None else 0.0
            s.turns[n] = Turn(
                channel=channel,
                interpreter=turn.interpreter,
                start=turn.start,
                end=at,
                cough_s=turn.cough_s + extra,
            )
            break
    s.booths[channel] = Booth()


def _on_live(state: ConferenceState, event: Event) -> None:
    s = interp_state(state)
    channel, interpreter = str(event.data["channel"]), str(event.data["interpreter"])
    _end_turn(s, channel, event.at)
    s.booths[channel] = Booth(live=interpreter, since=event.at)
    s.turns.append(Turn(channel=channel, interpreter=interpreter, start=event.at))


def _on_off(state: ConferenceState, event: Event) -> None:
    _end_turn(interp_state(state), str(event.data["channel"]), event.at)


def _on_cough(state: ConferenceState, event: Event) -> None:
    s = interp_state(state)
    channel = str(event.data["channel"])
    booth = s.booths.get(channel)
    if booth is None or booth.live != event.data.get("interpreter"):
        return
    on = bool(event.data["on"])
    booth.coughing = on
    if on:
        s.cough_started[channel] = event.at
        return
    since = s.cough_started.pop(channel, None)
    if since is None:
        return
    for n in range(len(s.turns) - 1, -1, -1):
        turn = s.turns[n]
        if turn.channel == channel and turn.end is None:
            s.turns[n] = Turn(
                channel=channel,
                interpreter=turn.interpreter,
                start=turn.start,
                cough_s=turn.cough_s + event.at - since,
            )
            break


def _on_agenda(state: ConferenceState, event: Event) -> None:
    """A new agenda: booths whose channel or interpreter it no longer has go off air."""
    s = interp_state(state)
    interpretation = section(state)
    for channel, booth in list(s.booths.items()):
        kept = (
            interpretation is not None
            and channel in interpretation.channels
            and booth.live is not None
            and interpretation.interpreter(booth.live) is not None
        )
        if booth.live is not None and not kept:
            _end_turn(s, channel, event.at)


# -- views -----------------------------------------------------------------------------


def view(state: ConferenceState, who: Principal | None) -> dict[str, Any] | None:
    """The booths as ``who`` sees them (None: the agenda has no interpretation)."""
    interpretation = section(state)
    if interpretation is None:
        return None
    booths = interp_state(state).booths
    named = who is None or who.role in BOOTH_VIEWERS or who.role is Role.SYSTEM
    channels = []
    for channel in interpretation.channels:
        booth = booths.get(channel, Booth())
        entry: dict[str, Any] = {
            "channel": channel,
            "live": booth.live is not None,
            "coughing": booth.coughing,
        }
        if named:
            entry["interpreter"] = booth.live
            entry["since"] = booth.since
            entry["booth"] = [
                {"id": i.id, "name": i.name, "from": list(i.sources)}
                for i in interpretation.booth(channel)
            ]
        channels.append(entry)
    out: dict[str, Any] = {"channels": channels}
    if who is not None and who.interpreter is not None:
        me = interpretation.interpreter(who.interpreter)
        if me is not None:
            out["me"] = {"id": me.id, "name": me.name, "into": me.into, "from": list(me.sources)}
    return out


def _snapshot(state: ConferenceState, who: Principal, now: float) -> dict[str, Any] | None:
    return view(state, who)


def _messages(state: ConferenceState, event: Event) -> list[Message]:
    if not event.type.startswith("interp.") and event.type != "conference.agenda_loaded":
        return []
    full = view(state, None)
    if full is None:
        return []
    brief = view(state, Principal(role=Role.PARTICIPANT, invite="-"))
    others = frozenset(Role) - BOOTH_VIEWERS - {Role.SYSTEM}
    # An interpreter's own "me" is added by the page from its snapshot; the live message
    # carries the booths only.
    return [
        Message(
            audience=Audience(roles=BOOTH_VIEWERS),
            payload={"type": "interpretation", "interpretation": full},
            coalesce=True,
        ),
        Message(
            audience=Audience(roles=others),
            payload={"type": "interpretation", "interpretation": brief},
            coalesce=True,
        ),
    ]


# -- the report ------------------------------------------------------------------------


def report(state: ConferenceState, now: float) -> dict[str, Any] | None:
    """A lane per channel (each turn: who, from, until, coughs) and each interpreter's
    minutes on air (coughs left out)."""
    interpretation = section(state)
    if interpretation is None:
        return None
    turns = interp_state(state).turns
    lanes = []
    for channel in interpretation.channels:
        spans = [
            {
                "interpreter": t.interpreter,
                "name": _name(state.require_agenda(), t.interpreter),
                "from": t.start,
                "until": t.end if t.end is not None else now,
                "cough_s": round(t.cough_s, 3),
            }
            for t in turns
            if t.channel == channel
        ]
        lanes.append({"channel": channel, "turns": spans})
    minutes: dict[str, float] = {i.id: 0.0 for i in interpretation.interpreters}
    for t in turns:
        end = t.end if t.end is not None else now
        minutes[t.interpreter] = minutes.get(t.interpreter, 0.0) + (end - t.start - t.cough_s) / 60
    people = [
        {
            "id": i.id,
            "name": i.name,
            "into": i.into,
            "minutes": round(minutes.get(i.id, 0.0), 2),
            "turns": sum(1 for t in turns if t.interpreter == i.id),
        }
        for i in interpretation.interpreters
    ]
    return {"lanes": lanes, "interpreters": people}


PART = Part(
    name="interpretation",
    init=InterpretationState,
    commands={
        "interp.take": CommandSpec(
            roles=INTERPRETERS,
            args=TakeArgs,
            decide=_take,
            doc="Go live in your channel; from your booth partner, it is a handover.",
        ),
        "interp.release": CommandSpec(
            roles=RELEASERS,
            args=ReleaseArgs,
            decide=_release,
            doc="Leave the air (the host names any channel); listeners hear the original.",
        ),
        "interp.cough": CommandSpec(
            roles=INTERPRETERS,
            args=CoughArgs,
            decide=_cough,
            doc="Mute (on) or unmute (off) your channel while you are live.",
        ),
    },
    reducers={
        "interp.live": _on_live,
        "interp.off": _on_off,
        "interp.cough": _on_cough,
        "conference.agenda_loaded": _on_agenda,
    },
    snapshot=_snapshot,
    messages=_messages,
)
