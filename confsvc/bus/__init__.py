"""The bus tells other nodes that a conference's log grew, and carries the new events.

A message is ``(conference, seq, events)``: the events just appended, as stored, so a
receiving node folds and fans them out without reading the store. The store stays the one
source of truth: a node reads it instead when the events are not there (a message larger
than ``MAX_MESSAGE_BYTES`` carries only the seq), when they do not follow what it has
folded (a gap: a bus message it missed), after the bus comes back (catch-up), and for an
erasure (earlier events were rewritten). A lost bus message delays an update (the store
poll carries it) but never corrupts state; each node folds each seq once, in order
(``confsvc.service.Hub.receive``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confsvc.core.events import Event, current_type

# Past this (the encoded message, bytes), only the seq travels and receivers read the
# store: a big event (an agenda, a photo) is not worth Redis's memory per subscriber.
MAX_MESSAGE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Tidings:
    """A decoded bus message: ``conference``'s log reached ``seq``; ``events`` are the
    ones appended (ascending, ending at ``seq``), or None when the store has to say."""

    conference: str
    seq: int
    node: str
    events: tuple[Event, ...] | None


Handler = Callable[[Tidings], Awaitable[None]]


class BusError(Exception):
    """The bus cannot be reached; the message names it."""


class MalformedMessage(ValueError):
    """A bus message that is not ``{"c": conference, "s": seq, "n": node, ...}``."""


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def encode(
    conference: str, node: str, events: Sequence[Event], max_bytes: int = MAX_MESSAGE_BYTES
) -> str:
    """The message for ``events`` (appended together, ascending): with the events when it
    fits in ``max_bytes``, else with their last seq alone."""
    if not events:
        raise ValueError("nothing to publish: no events")
    head = {"c": conference, "s": events[-1].seq, "n": node}
    full = _dumps({**head, "e": [e.as_dict() for e in events]})
    if len(full.encode("utf-8")) <= max_bytes:
        return full
    return _dumps(head)


def _event(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise MalformedMessage("an event is not an object")
    seq, kind, at, actor, data = (raw.get(k) for k in ("seq", "type", "at", "actor", "data"))
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise MalformedMessage("an event's seq is not a whole number from 1")
    if not isinstance(kind, str) or not isinstance(actor, str) or not isinstance(data, dict):
        raise MalformedMessage("an event's type, actor or data is missing")
    if not isinstance(at, int | float) or isinstance(at, bool):
        raise MalformedMessage("an event's time is not a number")
    return Event(seq=seq, type=current_type(kind), at=float(at), actor=actor, data=data)


def decode(text: str | bytes) -> Tidings:
    """The message's tidings; ``MalformedMessage`` when it has no conference or seq.

    Events that cannot be told apart (not objects, not one run of seqs ending at the
    message's seq) are dropped, not guessed at: ``events`` is None and the receiver
    reads the store, as for a message that carried none.
    """
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedMessage("not an object")
    conference, seq, node = body.get("c"), body.get("s"), body.get("n", "")
    if not isinstance(conference, str) or not conference:
        raise MalformedMessage("no conference")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise MalformedMessage("no seq")
    if not isinstance(node, str):
        raise MalformedMessage("the node is not a string")
    events: tuple[Event, ...] | None = None
    raw = body.get("e")
    if isinstance(raw, list) and raw:
        try:
            decoded = tuple(_event(e) for e in raw)
        except MalformedMessage:
            decoded = None
        if decoded is not None and _one_run(decoded, seq):
            events = decoded
    return Tidings(conference=conference, seq=seq, node=node, events=events)


def _one_run(events: tuple[Event, ...], last: int) -> bool:
    first = events[0].seq
    return events[-1].seq == last and all(e.seq == first + i for i, e in enumerate(events))


class Bus(Protocol):
    def on_publish(self, handler: Handler) -> None: ...

    async def publish(self, conference: str, events: Sequence[Event]) -> None:
        """Tell the other nodes of ``events``, just appended to ``conference`` (never
        raises for a bus that is down: the store has them, the poll carries them)."""
        ...

    async def start(self) -> None: ...

    async def ping(self) -> None:
        """Raise ``BusError`` naming the problem unless the bus is connected (``/readyz``)."""
        ...

    async def close(self) -> None: ...


class LocalBus:
    """One node: nothing to tell anybody (the hub has already folded its own events)."""

    def on_publish(self, handler: Handler) -> None:
        self._handler = handler

    async def publish(self, conference: str, events: Sequence[Event]) -> None:
        return None

    async def start(self) -> None:
        return None

    async def ping(self) -> None:
        return None  # nothing to be connected to

    async def close(self) -> None:
        return None
