"""The event store contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from confsvc.store import ConcurrencyError, EventStore, NewRecord, OutboxRow, open_store


@pytest.fixture(params=["sqlite", "postgres"])
async def store_dsn(request: Any, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    dsn = os.environ.get("CONFSVC_TEST_POSTGRES")
    if not dsn:
        pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
    return dsn


@pytest.fixture
async def store(store_dsn: str) -> AsyncIterator[EventStore]:
    s = await open_store(store_dsn)
    try:
        yield s
    finally:
        await s.close()


def conf_id() -> str:
    # PostgreSQL is shared between runs: every test gets conferences of its own.
    return f"test-{secrets.token_hex(5)}"


def rec(kind: str = "t.happened", **data: Any) -> NewRecord:
    return NewRecord(type=kind, at=1000.0, actor="host/abc", data=data)


async def test_append_then_read_returns_the_same_events(store: EventStore) -> None:
    cid = conf_id()
    stored = await store.append(cid, 0, [rec(n=1), rec("t.other", text="żółć 潍坊")])
    assert [e.seq for e in stored] == [1, 2]
    read = await store.read(cid)
    assert [(e.seq, e.type, e.at, e.actor, e.data) for e in read] == [
        (1, "t.happened", 1000.0, "host/abc", {"n": 1}),
        (2, "t.other", 1000.0, "host/abc", {"text": "żółć 潍坊"}),
    ]
    assert [e.seq for e in await store.read(cid, after_seq=1)] == [2]
    assert await store.last_seq(cid) == 2
    assert cid in await store.list_conferences()


async def test_events_stored_under_a_former_name_read_under_the_current_one(
    store: EventStore,
) -> None:
    # Logs written before the written answers' rename hold f.* events; the store reads them
    # as written.* (confsvc.core.events.RENAMED_TYPES), other types as stored.
    cid = conf_id()
    await store.append(cid, 0, [rec("f.replied", question="q-1"), rec("f.file"), rec("q.asked")])
    read = await store.read(cid)
    assert [e.type for e in read] == ["written.replied", "f.file", "q.asked"]
    assert read[0].data == {"question": "q-1"}


async def test_append_at_wrong_seq_fails_and_writes_nothing(store: EventStore) -> None:
    cid = conf_id()
    await store.append(cid, 0, [rec()])
    with pytest.raises(ConcurrencyError):
        await store.append(cid, 0, [rec(n=2)])
    with pytest.raises(ConcurrencyError):
        await store.append(cid, 5, [rec(n=3)])  # ahead of the log: no gap allowed
    assert [e.data for e in await store.read(cid)] == [{}]


async def test_conferences_are_separate_logs(store: EventStore) -> None:
    a, b = conf_id(), conf_id()
    await store.append(a, 0, [rec(x="a")])
    await store.append(b, 0, [rec(x="b")])
    assert [e.data["x"] for e in await store.read(a)] == ["a"]
    assert await store.last_seq(b) == 1


async def test_concurrent_writers_with_same_expected_seq_exactly_one_wins(
    store: EventStore,
) -> None:
    cid = conf_id()
    await store.append(cid, 0, [rec()])
    for round_ in range(20):
        expected = 1 + round_
        results = await asyncio.gather(
            *(store.append(cid, expected, [rec(w=w)]) for w in range(4)),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, ConcurrencyError)]
        assert (len(winners), len(losers)) == (1, 3)
    events = await store.read(cid)
    assert [e.seq for e in events] == list(range(1, 22))


async def test_two_stores_on_one_database_race_and_one_wins(store_dsn: str) -> None:
    first, second = await open_store(store_dsn), await open_store(store_dsn)
    try:
        cid = conf_id()
        results = await asyncio.gather(
            first.append(cid, 0, [rec(by="first")]),
            second.append(cid, 0, [rec(by="second")]),
            return_exceptions=True,
        )
        assert sum(isinstance(r, ConcurrencyError) for r in results) == 1
        assert len(await first.read(cid)) == 1
    finally:
        await first.close()
        await second.close()


async def test_outbox_rows_are_written_with_the_events_or_not_at_all(store: EventStore) -> None:
    cid = conf_id()
    key = f"mail-{secrets.token_hex(4)}"
    await store.append(cid, 0, [rec()], outbox=[OutboxRow(key=key, payload={"to": "a@b.c"})])
    with pytest.raises(ConcurrencyError):
        await store.append(cid, 0, [rec()], outbox=[OutboxRow(key=key + "-lost", payload={})])
    rows = await store.outbox_sql(  # type: ignore[attr-defined]
        "SELECT key, seq, status FROM outbox WHERE conference = ? ORDER BY id", (cid,), write=False
    )
    assert [tuple(r) for r in rows] == [(key, 1, "queued")]


async def test_empty_append_is_a_no_op(store: EventStore) -> None:
    cid = conf_id()
    assert await store.append(cid, 0, []) == []
    assert await store.last_seq(cid) == 0


KILLER = textwrap.dedent(
    """
    import asyncio, sys
    from confsvc.store import NewRecord, open_store

    async def main():
        store = await open_store(sys.argv[1])
        seq = await store.last_seq(sys.argv[2])
        while True:
            await store.append(sys.argv[2], seq, [NewRecord(type="t.n", at=1.0, actor="k", data={"n": seq + 1, "pad": "x" * 300})])
            seq += 1
            print(seq, flush=True)

    asyncio.run(main())
    """
)


async def test_sigkill_mid_append_leaves_no_partial_event_and_keeps_acknowledged(
    store_dsn: str,
) -> None:
    cid = conf_id()
    proc = subprocess.Popen(  # noqa: ASYNC220 - the writer to kill runs beside this loop
        [sys.executable, "-c", KILLER, store_dsn, cid],
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged = int(line)
            if acknowledged >= 300:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert acknowledged >= 300
    store = await open_store(store_dsn)
    try:
        events = await store.read(cid)
        seqs = [e.seq for e in events]
        assert seqs == list(range(1, len(seqs) + 1))  # no gap, no partial event
        assert len(seqs) >= acknowledged  # everything acknowledged is there
        assert all(e.data["n"] == e.seq and len(e.data["pad"]) == 300 for e in events)
        # The store still takes appends after the crash.
        await store.append(cid, len(seqs), [rec()])
    finally:
        await store.close()
