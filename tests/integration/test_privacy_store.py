"""The store's part of erasure, on both engines: ``rewrite`` replaces event data and
outbox rows and appends in one transaction (or writes nothing when the log moved on);
``compact`` leaves no old row image in SQLite's files."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from confsvc.store import (
    ConcurrencyError,
    EventStore,
    NewRecord,
    OutboxChange,
    OutboxRow,
    open_store,
)

SECRET_TEXT = "Zofia Wiśniewska zofia.wisniewska@example.pl"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: Any, tmp_path: Path) -> AsyncIterator[EventStore]:
    if request.param == "sqlite":
        dsn = str(tmp_path / "events.db")
    else:
        dsn = os.environ.get("CONFSVC_TEST_POSTGRES", "")
        if not dsn:
            pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
    s = await open_store(dsn)
    try:
        yield s
    finally:
        await s.close()


def rec(kind: str, **data: Any) -> NewRecord:
    return NewRecord(type=kind, at=1000.0, actor="host/abc", data=data)


async def _seed(store: EventStore) -> str:
    cid = f"test-{secrets.token_hex(5)}"
    await store.append(cid, 0, [rec("a", who=SECRET_TEXT), rec("b", n=1)])
    row = OutboxRow(key=f"{cid}:2:mail", payload={"to": [SECRET_TEXT], "message": SECRET_TEXT})
    await store.append(cid, 2, [rec("c", who=SECRET_TEXT)], outbox=[row])
    return cid


async def _outbox(store: Any, cid: str) -> list[tuple[Any, ...]]:
    return list(
        await store.outbox_sql(
            "SELECT id, payload, status, last_error FROM outbox WHERE conference = ?",
            (cid,),
            write=False,
        )
    )


async def test_rewrite_replaces_data_and_outbox_rows_and_appends(store: EventStore) -> None:
    cid = await _seed(store)
    [(row_id, *_)] = await _outbox(store, cid)
    change = OutboxChange(id=row_id, payload={"to": ["x"]}, status="failed", last_error="gone")
    new = await store.rewrite(
        cid,
        3,
        {1: {"who": "[erased]"}, 3: {"who": "[erased]"}},
        [rec("privacy.erased")],
        outbox=[change],
    )
    assert [e.seq for e in new] == [4]
    events = await store.read(cid)
    assert [(e.seq, e.type, e.data) for e in events] == [
        (1, "a", {"who": "[erased]"}),
        (2, "b", {"n": 1}),
        (3, "c", {"who": "[erased]"}),
        (4, "privacy.erased", {}),
    ]
    [(_, payload, status, error)] = await _outbox(store, cid)
    assert (SECRET_TEXT in str(payload), status, error) == (False, "failed", "gone")
    await store.compact()
    assert len(await store.read(cid)) == 4


async def test_rewrite_at_a_stale_seq_writes_nothing(store: EventStore) -> None:
    cid = await _seed(store)
    with pytest.raises(ConcurrencyError):
        await store.rewrite(cid, 2, {1: {"who": "[erased]"}}, [rec("privacy.erased")])
    events = await store.read(cid)
    assert [e.data for e in events] == [{"who": SECRET_TEXT}, {"n": 1}, {"who": SECRET_TEXT}]


async def test_sqlite_compact_leaves_no_old_row_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = await open_store(str(path))
    try:
        cid = await _seed(store)
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]

        def on_disk() -> bytes:
            return b"".join(f.read_bytes() for f in files if f.exists())

        assert SECRET_TEXT.encode() in on_disk()
        [(row_id, *_)] = await _outbox(store, cid)
        change = OutboxChange(id=row_id, payload={})
        await store.rewrite(cid, 3, {1: {}, 3: {}}, [rec("privacy.erased")], outbox=[change])
        assert SECRET_TEXT.encode() in on_disk()  # the old pages are still there ...
        await store.compact()
        assert SECRET_TEXT.encode() not in on_disk()  # ... until VACUUM and the checkpoint
        assert Path(f"{path}-wal").stat().st_size == 0
    finally:
        await store.close()
