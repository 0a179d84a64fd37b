"""The outbox row state machine on both engines: claim, sent, retry, failed, recover."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from confsvc.mail.outbox import Outbox
from confsvc.store import NewRecord, OutboxRow, open_store


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: Any, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        s = await open_store(str(tmp_path / "outbox.db"))
        yield s
        await s.close()
        return
    dsn = os.environ.get("CONFSVC_TEST_POSTGRES")
    if not dsn:
        pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
    import asyncpg

    schema = f"mailtest_{secrets.token_hex(4)}"
    con = await asyncpg.connect(dsn)
    await con.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in dsn else "?"
        s = await open_store(f"{dsn}{sep}search_path={schema}")
        yield s
        await s.close()
    finally:
        await con.execute(f"DROP SCHEMA {schema} CASCADE")
        await con.close()


async def _queue(store: Any, n: int, seq: int = 0) -> None:
    await store.append(
        "conf-a",
        seq,
        [NewRecord(type="written.assigned", at=100.0, actor="t", data={"i": seq})],
        outbox=[
            OutboxRow(key=f"k-{seq}-{i}", payload={"n": i, "to": ["ü@example.org"]})
            for i in range(n)
        ],
    )


async def test_claim_takes_due_rows_in_order_once(store: Any) -> None:
    await _queue(store, 3)
    box = Outbox(store)
    first = await box.claim(now=200.0, limit=2)
    assert [i.key for i in first] == ["k-0-0", "k-0-1"]
    assert [i.payload["n"] for i in first] == [0, 1]
    assert first[0].payload["to"] == ["ü@example.org"]
    assert [i.attempts for i in first] == [1, 1]
    second = await box.claim(now=200.0, limit=10)
    assert [i.key for i in second] == ["k-0-2"]
    assert await box.claim(now=200.0) == []
    await box.sent([i.id for i in first], now=201.0)
    assert await box.counts() == {"sent": 2, "sending": 1}


async def test_retry_waits_for_its_time_and_failure_keeps_the_error(store: Any) -> None:
    await _queue(store, 2)
    box = Outbox(store)
    a, b = await box.claim(now=200.0)
    await box.retry(a.id, at=500.0, error="451 try later")
    await box.failed(b.id, error="550 no such user")
    assert await box.claim(now=499.0) == []
    [again] = await box.claim(now=500.0)
    assert (again.key, again.attempts) == ("k-0-0", 2)
    rows = {r["key"]: r for r in await box.rows()}
    assert rows["k-0-1"]["status"] == "failed"
    assert rows["k-0-1"]["last_error"] == "550 no such user"
    assert rows["k-0-0"]["last_error"] == "451 try later"


async def test_recover_requeues_rows_left_in_sending(store: Any) -> None:
    await _queue(store, 2)
    box = Outbox(store)
    await box.claim(now=200.0)
    assert await box.claim(now=200.0) == []
    assert await box.recover() == 2
    assert [i.key for i in await box.claim(now=200.0)] == ["k-0-0", "k-0-1"]


async def test_a_retried_append_never_queues_a_mail_twice(store: Any) -> None:
    await _queue(store, 1, seq=0)
    await store.append(
        "conf-a",
        1,
        [NewRecord(type="written.assigned", at=100.0, actor="t", data={})],
        outbox=[OutboxRow(key="k-0-0", payload={"n": 99})],
    )
    rows = await Outbox(store).rows()
    assert [(r["key"], r["payload"]["n"]) for r in rows] == [("k-0-0", 0)]
