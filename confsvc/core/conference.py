"""The conference aggregate: its state, the command table and the event fold.

Theory of operation: a conference is the fold of its event log. ``decide`` turns a
command from a principal into new events (or raises a ``DomainError`` naming command,
role and state); it never changes the state. ``fold`` applies one stored event. Each
part (run of show, questions, written answers, ...) registers its commands, reducers and
views in ``PARTS`` (see ``confsvc.core.registry``); this module knows none of their rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from confsvc.core.agenda import Agenda, agenda_from_data
from confsvc.core.errors import BadRequest, Forbidden, InvalidState
from confsvc.core.events import Command, Event, NewEvent, Principal
from confsvc.core.idempotency import Outcomes, remember
from confsvc.core.permissions import may_run
from confsvc.core.roles import Role

# The latest moment any command may name (due dates, invite expiry): 2100-01-01 UTC.
# Bounds that keep every stored time printable (datetime, ISO 8601, JSON).
MAX_TIMESTAMP = 4_102_444_800.0


class Args(BaseModel):
    """Base of command arguments: unknown fields are refused, by name; so are
    Infinity and NaN (they could not be written back as JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def stored_time(value: object) -> float | None:
    """A time read from a stored event, or ``None`` when it is not one.

    Logs written before the commands had ranges may hold ``Infinity`` or ``1e15``; a fold
    that keeps them would break every report, so they read as "no time".
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    if not 0.0 <= number <= MAX_TIMESTAMP:  # also false for NaN
        return None
    return number


class NoArgs(Args):
    pass


Decider = Callable[["ConferenceState", Any, Principal, float], list[NewEvent]]
Reducer = Callable[["ConferenceState", Event], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSpec:
    roles: frozenset[Role]
    args: type[Args]
    decide: Decider
    doc: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Audience:
    """Who receives a live message: some roles, or one person's connections."""

    roles: frozenset[Role] | None = None  # None: everyone, the public included
    invite: str | None = None  # a ``Principal.identity``: one person, not a whole shared link

    def includes(self, who: Principal) -> bool:
        if self.invite is not None and who.identity != self.invite:
            return False
        return self.roles is None or who.role in self.roles


EVERYONE = Audience()


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    audience: Audience
    payload: dict[str, Any]
    coalesce: bool = False  # a whole view: only the newest per audience need be sent


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """One area of rules, plugged into the conference."""

    name: str
    init: Callable[[], Any]
    commands: Mapping[str, CommandSpec] = field(default_factory=dict)
    reducers: Mapping[str, Reducer] = field(default_factory=dict)
    # The part's view for one principal (None: nothing to show), sent on connect.
    snapshot: Callable[[ConferenceState, Principal, float], dict[str, Any] | None] | None = None
    # Live messages after an event was folded.
    messages: Callable[[ConferenceState, Event], list[Message]] | None = None


@dataclass(slots=True)
class ConferenceState:
    id: str
    seq: int = 0
    agenda: Agenda | None = None
    created_at: float | None = None
    archived_at: float | None = None  # archived: read-only, every command is refused
    revoked: set[str] = field(default_factory=set)
    parts: dict[str, Any] = field(default_factory=dict)
    # (actor, idempotency key) -> the events its command produced (core/idempotency.py).
    outcomes: Outcomes = field(default_factory=Outcomes)

    @property
    def exists(self) -> bool:
        return self.agenda is not None

    def require_agenda(self) -> Agenda:
        if self.agenda is None:
            raise InvalidState.keyed("conference.no_agenda", conference=self.id)
        return self.agenda


# -- the conference's own commands ---------------------------------------------


class RevokeArgs(Args):
    invite: str = Field(min_length=1, max_length=64)


def _decide_revoke(
    state: ConferenceState, args: RevokeArgs, who: Principal, now: float
) -> list[NewEvent]:
    if args.invite in state.revoked:
        raise InvalidState.keyed("invite.already_revoked", invite=args.invite)
    if args.invite == who.invite:
        raise BadRequest.keyed("invite.own", field="invite")
    return [NewEvent(type="invite.revoked", data={"invite": args.invite})]


def _fold_created(state: ConferenceState, event: Event) -> None:
    state.agenda = agenda_from_data(event.data["agenda"])
    if state.created_at is None:
        state.created_at = event.at


def _fold_revoked(state: ConferenceState, event: Event) -> None:
    state.revoked.add(event.data["invite"])


def archived_event(reason: str) -> NewEvent:
    """``confsvc admin archive``: the conference becomes read-only (reports still work)."""
    return NewEvent(type="conference.archived", data={"reason": reason})


def _fold_archived(state: ConferenceState, event: Event) -> None:
    if state.archived_at is None:
        state.archived_at = event.at


CONFERENCE_PART = Part(
    name="conference",
    init=dict,
    commands={
        "invite.revoke": CommandSpec(
            roles=frozenset({Role.HOST}),
            args=RevokeArgs,
            decide=_decide_revoke,
            doc="Revoke an invite link by its id.",
        ),
    },
    reducers={
        "conference.created": _fold_created,
        "conference.agenda_loaded": _fold_created,
        "invite.revoked": _fold_revoked,
        "conference.archived": _fold_archived,
    },
)


def created_event(agenda: Agenda) -> NewEvent:
    return NewEvent(type="conference.created", data={"agenda": agenda.to_data()})


def agenda_loaded_event(agenda: Agenda) -> NewEvent:
    return NewEvent(type="conference.agenda_loaded", data={"agenda": agenda.to_data()})


# -- the engine ----------------------------------------------------------------


class Rules:
    """The parts plugged together: one command table, one reducer table."""

    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts
        self.commands: dict[str, CommandSpec] = {}
        self.reducers: dict[str, list[Reducer]] = {}
        for part in parts:
            for name, spec in part.commands.items():
                if name in self.commands:
                    raise ValueError(f"command {name!r} is registered twice")
                self.commands[name] = spec
            for etype, reducer in part.reducers.items():
                self.reducers.setdefault(etype, []).append(reducer)

    def new_state(self, conference_id: str) -> ConferenceState:
        state = ConferenceState(id=conference_id)
        for part in self.parts:
            state.parts[part.name] = part.init()
        return state

    def decide(
        self, state: ConferenceState, who: Principal, command: Command, now: float
    ) -> list[NewEvent]:
        """New events for ``command``, or a ``DomainError`` that names the problem."""
        spec = self.check_allowed(state, who, command.name)
        if not state.exists:
            raise InvalidState.keyed("conference.missing", conference=state.id)
        if state.archived_at is not None:
            raise InvalidState.keyed("conference.archived", conference=state.id)
        try:
            args = spec.args.model_validate(command.args)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"] if err["type"] != "extra_forbidden" else "unknown field"
            raise BadRequest(
                f"{command.name}: args.{loc}: {msg}" if loc else f"{command.name}: {msg}",
                field=f"args.{loc}" if loc else "args",
            ) from None
        return spec.decide(state, args, who, now)

    def check_allowed(self, state: ConferenceState, who: Principal, name: str) -> CommandSpec:
        """The command's spec if ``who`` may use it at all (role, revocation), else the error.

        ``decide`` asks this first; an adapter asks it before costly work on the arguments.
        """
        spec = self.commands.get(name)
        if spec is None:
            raise BadRequest.keyed("command.unknown", command=name, field="name")
        if not may_run(who, spec.roles):
            raise Forbidden.keyed("command.role", role=who.role.value, command=name)
        if who.invite in state.revoked:
            raise Forbidden.keyed("invite.revoked")
        return spec

    def fold(self, state: ConferenceState, event: Event) -> None:
        if event.seq != state.seq + 1:
            raise ValueError(
                f"Conference({state.id}) expected event {state.seq + 1}, got {event.seq}"
            )
        for reducer in self.reducers.get(event.type, ()):
            reducer(state, event)
        remember(state.outcomes, event)
        state.seq = event.seq

    def snapshot(self, state: ConferenceState, who: Principal, now: float) -> dict[str, Any]:
        views: dict[str, Any] = {}
        for part in self.parts:
            if part.snapshot is not None:
                view = part.snapshot(state, who, now)
                if view is not None:
                    views[part.name] = view
        return views

    def messages(self, state: ConferenceState, event: Event) -> list[Message]:
        out: list[Message] = []
        for part in self.parts:
            if part.messages is not None:
                out.extend(part.messages(state, event))
        return out
