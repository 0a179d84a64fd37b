"""Idempotency keys: a command re-sent with the key it was first sent with returns the
first outcome and appends nothing (docs/protocol.md, "Idempotency keys").

Theory of operation: the adapter tags every event a keyed command produced with the key
and the command's name, under the reserved data field ``KEY_FIELD``; the fold
(``remember``) keeps a bounded map of (actor, key) to the stored events. Before deciding
a keyed command, ``outcome`` looks the key up: found, the command is not decided again.
Because the key is in the log, the map survives restarts, and a node that had not yet
folded another node's keyed events loses the append race (``expected_seq``), catches up,
and then finds the key. A refused command leaves no trace: sent again, it is decided
again. Keys belong to the link (actor) that sent them; another link's key is another
command. This module knows nothing of I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from confsvc.core.errors import BadRequest
from confsvc.core.events import Event, NewEvent

# The reserved field of an event's data that holds {"key": ..., "command": ...}.
KEY_FIELD = "_idem"
MAX_KEY_LENGTH = 64
# Keys remembered per conference; the oldest are forgotten first. A page re-sends within
# seconds of reconnecting, so the last ten thousand commands are plenty.
REMEMBERED = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a keyed command produced: its name and its stored events, in order."""

    command: str
    events: tuple[Event, ...]


Outcomes = OrderedDict[tuple[str, str], Outcome]


def check_key(key: object) -> str | None:
    """The key of a command message, or ``BadRequest`` naming ``key``."""
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise BadRequest.keyed("key.length", max=MAX_KEY_LENGTH, field="key")
    if not key.isprintable():
        raise BadRequest.keyed("key.printable", field="key")
    return key


def tag(events: list[NewEvent], key: str, command: str) -> list[NewEvent]:
    """The events with the key stored in their data."""
    mark = {"key": key, "command": command}
    return [NewEvent(type=e.type, data={**e.data, KEY_FIELD: mark}) for e in events]


def remember(outcomes: Outcomes, event: Event) -> None:
    """Fold one stored event: a tagged one joins its command's outcome."""
    mark = event.data.get(KEY_FIELD)
    if not isinstance(mark, dict):
        return
    key, command = mark.get("key"), mark.get("command")
    if not isinstance(key, str) or not isinstance(command, str):
        return
    slot = (event.actor, key)
    known = outcomes.get(slot)
    if known is not None and known.events and known.events[-1].seq == event.seq - 1:
        outcomes[slot] = Outcome(command=command, events=(*known.events, event))
    else:
        outcomes[slot] = Outcome(command=command, events=(event,))
    outcomes.move_to_end(slot)
    while len(outcomes) > REMEMBERED:
        outcomes.popitem(last=False)


def outcome(outcomes: Outcomes, actor: str, key: str, command: str) -> Outcome | None:
    """The first outcome of ``key`` from ``actor``, or ``None`` when it is new.

    A key already used for another command is refused: the client reused it by mistake.
    """
    known = outcomes.get((actor, key))
    if known is None:
        return None
    if known.command != command:
        raise BadRequest.keyed(
            "key.reused", key=key, used=known.command, command=command, field="key"
        )
    return known
