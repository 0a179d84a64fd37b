"""The backlog a resuming client is served from (confsvc/backlog.py)."""

from __future__ import annotations

import pytest

from confsvc.backlog import Backlog, Behind, coalesced, for_principal
from confsvc.core.conference import EVERYONE, Audience, Message
from confsvc.core.events import Principal
from confsvc.core.roles import Role

HOSTS = Audience(roles=frozenset({Role.HOST}))


def view(n: int) -> Message:
    return Message(audience=EVERYONE, payload={"type": "ros", "n": n}, coalesce=True)


def delta(n: int, audience: Audience = EVERYONE) -> Message:
    return Message(audience=audience, payload={"type": "q.shown", "n": n})


def test_what_was_missed_comes_in_order_with_only_the_newest_whole_view() -> None:
    backlog = Backlog(10)
    for seq in range(1, 5):
        backlog.record(seq, [view(seq), delta(seq)])
    got = coalesced(backlog.since(1, 4))
    assert [(m.payload["type"], m.payload["n"], seq) for m, seq in got] == [
        ("q.shown", 2, 2),
        ("q.shown", 3, 3),
        ("ros", 4, 4),
        ("q.shown", 4, 4),
    ]


def test_nothing_missed_is_an_empty_list() -> None:
    backlog = Backlog(3)
    backlog.record(1, [view(1)])
    assert backlog.since(1, 1) == []


def test_events_without_messages_still_count_towards_the_reach() -> None:
    backlog = Backlog(2)
    for seq in range(1, 5):
        backlog.record(seq, [] if seq % 2 else [delta(seq)])
    assert [seq for _, seq in backlog.since(2, 4)] == [4]
    with pytest.raises(Behind, match=r"seq 1 is too far behind: .* last 2 events"):
        backlog.since(1, 4)


def test_a_seq_past_the_log_is_behind_too() -> None:
    backlog = Backlog(5)
    backlog.record(1, [view(1)])
    with pytest.raises(Behind, match=r"seq 7 is past this conference's log \(at 1\)"):
        backlog.since(7, 1)


def test_a_backlog_that_missed_events_of_the_log_cannot_tell() -> None:
    backlog = Backlog(5)
    backlog.record(1, [view(1)])
    with pytest.raises(Behind):  # the log is at 3, the backlog knows 1
        backlog.since(1, 3)


def test_clearing_after_an_erasure_sends_everybody_behind_it_to_a_snapshot() -> None:
    backlog = Backlog(5)
    for seq in range(1, 4):
        backlog.record(seq, [delta(seq)])
    backlog.clear(3)
    backlog.record(4, [delta(4)])
    with pytest.raises(Behind):
        backlog.since(2, 4)
    assert [seq for _, seq in backlog.since(3, 4)] == [4]


def test_a_backlog_of_nothing_only_resumes_the_up_to_date() -> None:
    backlog = Backlog(0)
    backlog.record(1, [view(1)])
    assert backlog.since(1, 1) == []
    with pytest.raises(Behind):
        backlog.since(0, 1)
    with pytest.raises(ValueError, match="a backlog of -1 events"):
        Backlog(-1)


def test_only_the_principals_messages_are_kept() -> None:
    messages = [(delta(1, HOSTS), 1), (delta(2), 2)]
    public = Principal(role=Role.PUBLIC, invite="public")
    host = Principal(role=Role.HOST, invite="h")
    assert [seq for _, seq in for_principal(messages, public)] == [2]
    assert [seq for _, seq in for_principal(messages, host)] == [1, 2]
