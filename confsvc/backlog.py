"""What a reconnecting client missed: the live messages of a conference's recent events.

A hub keeps, for each of its last ``size`` events, the messages the core derived when it
folded that event (``Rules.messages``, the same on every node: the core is deterministic,
so a node that folded the event from the store derived the same messages as the node that
appended it). A client that reconnects with the last ``seq`` it saw gets the messages of
every later event addressed to it, in order, instead of a whole snapshot
(docs/protocol.md, "Resuming"). Too far behind (the backlog no longer reaches back to its
seq), or ahead of this node's log, it gets a snapshot and is told why.

What this module is not: the log (the store is that; this is a bounded cache of messages
in memory, rebuilt by folding), or the delivery (``confsvc.service.Hub`` does that).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from confsvc.core.conference import Audience, Message
from confsvc.core.events import Principal

# Events whose messages a hub keeps for resuming: a conference sees a few events a second,
# so a thousand reach back minutes, enough for a dropped network or a node's failover.
DEFAULT_SIZE = 1000


def coalesced(messages: Iterable[tuple[Message, int]]) -> list[tuple[Message, int]]:
    """The messages in order, with only the newest of each whole view (``coalesce``) per
    audience: an older one is replaced by it, so sending it would be wasted."""
    kept: list[tuple[Message, int]] = []
    seen: set[tuple[str, Audience]] = set()
    for m, seq in reversed(list(messages)):
        if m.coalesce:
            key = (str(m.payload.get("type")), m.audience)
            if key in seen:
                continue
            seen.add(key)
        kept.append((m, seq))
    kept.reverse()
    return kept


class Behind(Exception):
    """The backlog cannot say what a client missed; the message says why (sent to it)."""


class Backlog:
    """The messages of the last ``size`` events, by seq (contiguous: an event without
    messages is kept too, so a gap never passes for "nothing happened")."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 0:
            raise ValueError(f"a backlog of {size} events: it must be 0 or more")
        self.size = size
        self._events: deque[tuple[int, tuple[Message, ...]]] = deque(maxlen=size or None)
        self._last = 0  # the seq of the newest event recorded (or the log's, once cleared)

    def __len__(self) -> int:
        return len(self._events)

    def record(self, seq: int, messages: Iterable[Message]) -> None:
        """Keep the messages of event ``seq`` (the next one after the last recorded)."""
        self._last = seq
        if self.size:
            self._events.append((seq, tuple(messages)))

    def clear(self, seq: int) -> None:
        """Forget everything up to ``seq`` (personal data was erased: the messages may
        hold it); a client behind ``seq`` gets a snapshot."""
        self._events.clear()
        self._last = seq

    def since(self, after_seq: int, log_seq: int) -> list[tuple[Message, int]]:
        """Every kept message of the events after ``after_seq``, in order; ``Behind`` when
        the backlog does not reach back that far or ``after_seq`` is past ``log_seq``."""
        if after_seq > log_seq:
            raise Behind(f"seq {after_seq} is past this conference's log (at {log_seq})")
        if after_seq == log_seq:
            return []
        oldest = self._events[0][0] if self._events else self._last + 1
        if after_seq < oldest - 1 or self._last != log_seq:
            raise Behind(
                f"seq {after_seq} is too far behind: the server keeps the messages of the "
                f"last {self.size} events (the log is at {log_seq})"
            )
        out: list[tuple[Message, int]] = []
        for seq, messages in self._events:
            if seq > after_seq:
                out.extend((m, seq) for m in messages)
        return out


def for_principal(messages: list[tuple[Message, int]], who: Principal) -> list[tuple[Message, int]]:
    """The messages addressed to ``who``."""
    return [(m, seq) for m, seq in messages if m.audience.includes(who)]
