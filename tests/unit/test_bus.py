"""The bus carries the events themselves (confsvc/bus/__init__.py) and a receiving hub
folds them without a store read (``Hub.receive``), reading the store only on a gap, for a
message that carried no events (too large, malformed) or an erasure: each seq folded once,
in order, whatever the bus drops, repeats or reorders."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confsvc.bus import MAX_MESSAGE_BYTES, MalformedMessage, Tidings, decode, encode
from confsvc.core.events import Command, Event, Principal
from confsvc.service import Hub, Hubs
from confsvc.store import EventStore, open_store
from tests.unit.core_session import AGENDA, HOST


def _event(seq: int, **data: Any) -> Event:
    return Event(seq=seq, type="ros.extended", at=1_000_000.5 + seq, actor="host-1", data=data)


# -- the message ---------------------------------------------------------------


def test_a_message_carries_its_events_and_decodes_to_the_same() -> None:
    events = [_event(7, minutes=1, note="zażółć 中文"), _event(8, minutes=2)]
    tidings = decode(encode("conf-1", "node-a", events))
    assert tidings == Tidings(conference="conf-1", seq=8, node="node-a", events=tuple(events))


def test_an_old_type_name_is_read_under_its_current_name() -> None:
    text = json.dumps(
        {"c": "x", "s": 1, "n": "a", "e": [{**_event(1).as_dict(), "type": "f.assigned"}]}
    )
    events = decode(text).events
    assert events is not None and events[0].type == "written.assigned"


def test_a_message_past_the_cap_carries_only_its_seq() -> None:
    big = [_event(3, text="x" * MAX_MESSAGE_BYTES)]
    text = encode("conf-1", "node-a", big)
    assert len(text.encode()) < 200
    assert decode(text) == Tidings(conference="conf-1", seq=3, node="node-a", events=None)
    # The cap counts bytes, not characters: 3 bytes each in UTF-8.
    wide = [_event(4, text="中" * 100)]
    full = encode("c", "n", wide)
    cap = len(full) + 10  # characters fit, bytes do not
    assert decode(full).events == tuple(wide)
    assert cap < len(full.encode())
    assert decode(encode("c", "n", wide, max_bytes=cap)).events is None


def test_nothing_to_publish_is_refused() -> None:
    with pytest.raises(ValueError, match="no events"):
        encode("c", "n", [])


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "not JSON"),
        ("[1]", "not an object"),
        ('{"s": 1}', "no conference"),
        ('{"c": "x"}', "no seq"),
        ('{"c": "x", "s": true}', "no seq"),
        ('{"c": "x", "s": 0}', "no seq"),
        ('{"c": "x", "s": 1, "n": 5}', "node"),
    ],
)
def test_a_malformed_message_is_named(text: str, why: str) -> None:
    with pytest.raises(MalformedMessage, match=why):
        decode(text)


@pytest.mark.parametrize(
    "events",
    [
        [{"seq": 1, "type": "t", "at": 1.0, "actor": "a", "data": {}}],  # ends before s
        [_event(2).as_dict(), _event(4).as_dict(), _event(3).as_dict()],  # not one run
        [{"seq": 3, "type": "t", "at": "soon", "actor": "a", "data": {}}],
        [{"seq": 3, "type": "t", "at": 1.0, "actor": "a", "data": []}],
        ["an event"],
    ],
)
def test_events_that_do_not_add_up_are_dropped_for_a_store_read(events: list[Any]) -> None:
    tidings = decode(json.dumps({"c": "x", "s": 3, "n": "a", "e": events}))
    assert (tidings.seq, tidings.events) == (3, None)


# -- a receiving hub -------------------------------------------------------------


class CountingStore:
    """The store, counting reads (what the bus is there to spare)."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.reads = 0

    async def read(self, conference: str, after_seq: int = 0) -> list[Event]:
        self.reads += 1
        return await self.inner.read(conference, after_seq)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Captured:
    """A bus that keeps what its node published, encoded as Redis would carry it."""

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.sent: list[str] = []
        self.max_bytes = max_bytes

    def on_publish(self, handler: Any) -> None:
        self.handler = handler

    async def publish(self, conference: str, events: Sequence[Event]) -> None:
        self.sent.append(encode(conference, "writer", events, self.max_bytes))

    async def start(self) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class Listener:
    def __init__(self) -> None:
        self.principal = Principal(role=HOST.role, invite="watcher")
        self.seqs: list[int] = []

    def deliver(self, text: str) -> None:
        self.seqs.append(json.loads(text)["seq"])


class Pair:
    """A writing node and a reading node on one store; the reader hears the writer only
    through the messages the test hands it."""

    def __init__(self, store: EventStore, writer: Hub, reader_hubs: Hubs, reader: Hub) -> None:
        self.store = store
        self.writer = writer
        self.bus: Captured = writer.bus  # type: ignore[assignment]
        self.reader_hubs = reader_hubs
        self.reader = reader
        self.counting: CountingStore = reader_hubs.store  # type: ignore[assignment]
        self.listener = Listener()
        reader.listeners.add(self.listener)
        self.folded: list[int] = []
        reader.event_hooks.append(lambda _hub, events: self.folded.extend(e.seq for e in events))

    async def act(self, n: int) -> None:
        for i in range(n):
            await self.writer.execute(HOST, Command(name="ros.extend", args={"minutes": 1 + i % 3}))

    async def hand(self, message: str) -> None:
        await self.reader_hubs._on_bus(decode(message))


@pytest.fixture
async def pairs(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    """Makes pairs on stores of their own; closes every store after the test."""
    made: list[Pair] = []

    async def make(max_bytes: int = MAX_MESSAGE_BYTES) -> Pair:
        pair = await _pair(tmp_path / str(len(made)), max_bytes)
        made.append(pair)
        return pair

    try:
        yield make
    finally:
        for pair in made:
            await pair.store.close()


async def _pair(tmp_path: Path, max_bytes: int = MAX_MESSAGE_BYTES) -> Pair:
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = await open_store(str(tmp_path / "bus.db"))
    writers = Hubs(store, Captured(max_bytes))  # type: ignore[arg-type]
    writer, _ = await writers.create_or_resume(AGENDA)
    await writer.execute(HOST, Command(name="ros.start", args={}))
    readers = Hubs(CountingStore(store), Captured())  # type: ignore[arg-type]
    reader = await readers.get(AGENDA.conference.id)
    reader.event_hooks = []  # its own list (Hubs shares one with every hub)
    pair = Pair(store, writer, readers, reader)
    pair.counting.reads = 0
    pair.bus.sent.clear()
    return pair


async def _check_converged(pair: Pair, first: int) -> None:
    last = await pair.store.last_seq(AGENDA.conference.id)
    assert pair.reader.state.seq == pair.writer.state.seq == last
    assert pair.folded == list(range(first, last + 1))  # each once, in order
    assert pair.listener.seqs == sorted(set(pair.listener.seqs))
    assert pair.reader.state == pair.writer.state


async def test_events_on_the_bus_are_folded_without_a_store_read(pairs: Any) -> None:
    pair = await pairs()
    first = pair.reader.state.seq + 1
    await pair.act(5)
    for message in pair.bus.sent:
        await pair.hand(message)
    assert pair.counting.reads == 0
    assert pair.reader.bus_store_reads == pair.reader_hubs.bus_store_reads == 0
    assert pair.listener.seqs == list(range(first, first + 5))
    await _check_converged(pair, first)


async def test_a_gap_reads_the_store_once_and_folds_each_event_once(pairs: Any) -> None:
    pair = await pairs()
    first = pair.reader.state.seq + 1
    await pair.act(4)
    one, _lost, three, four = pair.bus.sent
    await pair.hand(one)
    await pair.hand(three)  # the second never came: the store has it
    assert (pair.counting.reads, pair.reader.bus_store_reads) == (1, 1)
    assert pair.reader_hubs.bus_store_reads == 1  # the node's count (/metrics)
    await pair.hand(four)  # follows again: no read
    await pair.hand(three)  # late, and repeated: nothing
    await pair.hand(one)
    assert pair.counting.reads == 1
    await _check_converged(pair, first)


async def test_events_folded_already_are_skipped_in_a_message_that_overlaps(pairs: Any) -> None:
    pair = await pairs()
    first = pair.reader.state.seq + 1
    await pair.act(3)
    stored = await pair.store.read(AGENDA.conference.id, first - 1)
    assert [e.seq for e in stored] == [first, first + 1, first + 2]
    assert await pair.reader.receive(first + 1, stored[:2]) == 2
    assert await pair.reader.receive(first + 2, stored[1:]) == 1  # only the new one
    assert await pair.reader.receive(first + 2, stored) == 0
    assert pair.counting.reads == 0
    await _check_converged(pair, first)


async def test_a_message_without_its_events_reads_the_store(pairs: Any) -> None:
    pair = await pairs(max_bytes=64)  # every message past the cap
    first = pair.reader.state.seq + 1
    for n in (1, 2):
        await pair.act(1)
        assert decode(pair.bus.sent[-1]).events is None
        await pair.hand(pair.bus.sent[-1])
        assert pair.counting.reads == pair.reader.bus_store_reads == n
        assert pair.reader_hubs.bus_store_reads == n
    await _check_converged(pair, first)


async def test_a_message_for_a_conference_not_loaded_is_ignored(pairs: Any) -> None:
    pair = await pairs()
    await pair.hand(encode("another-conference", "writer", [_event(1)]))
    assert pair.counting.reads == 0
    assert "another-conference" not in pair.reader_hubs.tracked_ids()


async def test_an_erasure_on_the_bus_refolds_from_the_store(pairs: Any) -> None:
    pair = await pairs()
    seq = pair.reader.state.seq
    erased = Event(seq=seq + 1, type="privacy.erased", at=1.0, actor="system", data={})
    calls: list[int] = []

    async def catch_up() -> int:
        calls.append(pair.reader.state.seq)
        return 0

    pair.reader._catch_up_locked = catch_up  # type: ignore[method-assign]
    await pair.reader.receive(seq + 1, [erased])
    assert calls == [seq]  # the store's, not the bus's copy
    assert pair.reader.state.seq == seq


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    actions=st.lists(st.integers(1, 3), min_size=1, max_size=6),
    script=st.lists(st.integers(0, 20), max_size=30),
)
async def test_whatever_the_bus_drops_repeats_or_reorders_each_seq_is_folded_once_in_order(
    tmp_path_factory: pytest.TempPathFactory,
    actions: list[int],
    script: list[int],
) -> None:
    pair = await _pair(tmp_path_factory.mktemp("bus"))
    try:
        first = pair.reader.state.seq + 1
        for n in actions:  # bursts of commands before the reader hears any
            await pair.act(n)
        sent = pair.bus.sent
        for index in script:  # any message, any number of times, in any order
            await pair.hand(sent[index % len(sent)])
        await pair.hand(sent[-1])  # the last message (or the poll) comes in the end
        await _check_converged(pair, first)
    finally:
        await pair.store.close()
