"""A question's life: the one table that both refuses commands and moves the status.

``TRANSITIONS`` is ``{status: {command: status after}}``. Deciding a command asks
``after`` (a command missing from the row of the question's status is refused with one
error naming the command, the question and its status); folding the command's event sets
the status from the same table (``folded_status``), so a reducer never sets a status.
Commands that do not move a question (edit, tag, pin, note, vote) are in the table too,
mapped to the same status, so the table alone says what may happen when. This module
knows nothing but statuses and command names.
"""

from __future__ import annotations

from confsvc.core.errors import InvalidState

PENDING, APPROVED, ON_AIR, ANSWERED = "pending", "approved", "on_air", "answered"
DEFERRED, REJECTED, MERGED = "deferred", "rejected", "merged"
STATUSES = (PENDING, APPROVED, ON_AIR, ANSWERED, DEFERRED, REJECTED, MERGED)

_KEEP = ("q.edit", "q.tag", "q.pin", "q.note", "q.translate")

# status -> command -> status after it. Anything missing is refused.
TRANSITIONS: dict[str, dict[str, str]] = {
    PENDING: {
        "q.approve": APPROVED,
        "q.reject": REJECTED,
        "q.defer": DEFERRED,
        "q.merge": MERGED,
        **dict.fromkeys(_KEEP, PENDING),
    },
    APPROVED: {
        "q.reject": REJECTED,
        "q.on_air": ON_AIR,
        "q.answer": ANSWERED,
        "q.defer": DEFERRED,
        "q.merge": MERGED,
        "q.vote": APPROVED,
        **dict.fromkeys(_KEEP, APPROVED),
    },
    ON_AIR: {
        "q.off_air": APPROVED,
        "q.answer": ANSWERED,
        "q.defer": DEFERRED,
        "q.vote": ON_AIR,
        **dict.fromkeys(_KEEP, ON_AIR),
    },
    ANSWERED: dict.fromkeys(_KEEP, ANSWERED),
    DEFERRED: dict.fromkeys(_KEEP, DEFERRED),
    REJECTED: {"q.restore": PENDING, "q.note": REJECTED, "q.tag": REJECTED},
    MERGED: {"q.note": MERGED},
}

# Where a merge may land.
MERGE_TARGETS = frozenset({PENDING, APPROVED, ON_AIR})
# What the room (participants, sites, experts) sees of the queue.
SHOWN = frozenset({APPROVED, ON_AIR, ANSWERED})


def _moves() -> dict[str, str]:
    """Each command's one destination when it moves a question (read from the table)."""
    out: dict[str, str] = {}
    for status, row in TRANSITIONS.items():
        for command, after in row.items():
            if after != status and out.setdefault(command, after) != after:
                raise ValueError(f"{command} leads to both {out[command]} and {after}")
    return out


MOVES = _moves()


def after(qid: str, status: str, command: str, merged_into: str | None = None) -> str:
    """The status ``command`` leaves question ``qid`` in, or the error that refuses it."""
    nxt = TRANSITIONS[status].get(command)
    if nxt is None:
        if status == MERGED:
            raise InvalidState.keyed("q.merged", command=command, question=qid, target=merged_into)
        allowed = sorted(s for s, row in TRANSITIONS.items() if command in row)
        raise InvalidState(
            f"{command}: {qid} is {status}; this needs a question that is " + " or ".join(allowed)
        )
    return nxt


def folded_status(status: str, command: str) -> str:
    """The status after folding ``command``'s event: the table's "after" for the status.

    The core never stores an event the table refuses; a log written by hand (a test's, an
    edited export) may hold one, and it still folds: a command that moves questions moves
    this one to where it always leads, any other leaves the status as it is.
    """
    return TRANSITIONS[status].get(command) or MOVES.get(command, status)


def commands_in(status: str) -> list[str]:
    """The commands the table allows for a question in ``status``."""
    return list(TRANSITIONS[status])
