"""SQLite event store: one file, WAL, ``synchronous=FULL`` (an acknowledged append survives
a crash of the process and of the machine).

Writes go through one writer thread that commits whatever appends are waiting in a single
transaction (group commit), each append in its own savepoint, so a failed append never
takes its neighbours down. Reads use their own connection on another thread. Other
processes may write the same file: ``BEGIN IMMEDIATE`` and the primary key
``(conference, seq)`` keep "exactly one writer wins" true across processes too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from confsvc.core.events import Event, current_type
from confsvc.store import homes
from confsvc.store.base import (
    ConcurrencyError,
    NewRecord,
    OutboxChange,
    OutboxRow,
    StoreError,
)
from confsvc.store.migrations import PER_CONFERENCE_TABLES, migrate_sqlite

log = logging.getLogger(__name__)

BATCH = 256
_STOP = object()


def _connect(path: str) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA busy_timeout=30000")
    return con


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class SqliteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._wq: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer_con = _connect(path)
        try:
            self.schema_version = migrate_sqlite(self._writer_con, path)
        except BaseException:
            self._writer_con.close()
            raise
        self._reader_con = _connect(path)
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._thread = threading.Thread(target=self._write_loop, name="sqlite-write", daemon=True)
        self._thread.start()
        self._closed = False

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
        if path != ":memory:":
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        return await asyncio.to_thread(cls, path)

    # -- writing -------------------------------------------------------------

    def _write_loop(self) -> None:
        con = self._writer_con
        while True:
            first = self._wq.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < BATCH:
                try:
                    nxt = self._wq.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._wq.put(_STOP)
                    break
                batch.append(nxt)
            results: list[tuple[Any, Any, BaseException | None]] = []
            try:
                con.execute("BEGIN IMMEDIATE")
                for fn, fut, loop in batch:
                    con.execute("SAVEPOINT one")
                    try:
                        value = fn(con)
                        con.execute("RELEASE one")
                        results.append(((fut, loop), value, None))
                    except BaseException as exc:  # handed to the waiting coroutine
                        con.execute("ROLLBACK TO one")
                        con.execute("RELEASE one")
                        results.append(((fut, loop), None, exc))
                con.execute("COMMIT")
            except sqlite3.Error as exc:
                log.error("SqliteStore(%s): commit failed: %s", self.path, exc)
                if con.in_transaction:
                    con.execute("ROLLBACK")
                failed = StoreError(f"SQLite commit failed: {exc}")
                results = [((fut, loop), None, failed) for fn, fut, loop in batch]
            for (fut, loop), value, error in results:
                loop.call_soon_threadsafe(_settle, fut, value, error)
        con.close()

    async def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._wq.put((fn, fut, loop))
        return await fut

    async def append(
        self,
        conference: str,
        expected_seq: int,
        records: Sequence[NewRecord],
        *,
        outbox: Sequence[OutboxRow] = (),
    ) -> list[Event]:
        rows = [
            (conference, expected_seq + i + 1, r.type, r.at, r.actor, _dumps(r.data))
            for i, r in enumerate(records)
        ]
        mails = [
            (m.key, conference, expected_seq + len(records), _dumps(m.payload), records[-1].at)
            for m in outbox
        ]

        def run(con: sqlite3.Connection) -> None:
            row = con.execute(
                "SELECT max(seq) FROM events WHERE conference = ?", (conference,)
            ).fetchone()
            actual = row[0] or 0
            if actual != expected_seq:
                raise ConcurrencyError(conference, expected_seq, actual)
            con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
            if mails:
                con.executemany(
                    "INSERT INTO outbox (key, conference, seq, payload, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                    mails,
                )

        if not records:
            return []
        await self._write(run)
        return [
            Event(seq=seq, type=r.type, at=r.at, actor=r.actor, data=r.data)
            for (_, seq, *_rest), r in zip(rows, records, strict=True)
        ]

    # -- reading -------------------------------------------------------------

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._closed:
            raise StoreError("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._reader, lambda: self._reader_con.execute(sql, params).fetchall()
        )

    async def read(self, conference: str, after_seq: int = 0) -> list[Event]:
        rows = await self._read(
            "SELECT seq, type, at, actor, data FROM events "
            "WHERE conference = ? AND seq > ? ORDER BY seq",
            (conference, after_seq),
        )
        loads = json.loads
        return [
            Event(seq=s, type=current_type(t), at=a, actor=ac, data=loads(d))
            for s, t, a, ac, d in rows
        ]

    async def last_seq(self, conference: str) -> int:
        rows = await self._read("SELECT max(seq) FROM events WHERE conference = ?", (conference,))
        return int(rows[0][0] or 0)

    async def list_conferences(self) -> list[str]:
        rows = await self._read("SELECT DISTINCT conference FROM events ORDER BY conference", ())
        return [r[0] for r in rows]

    async def delete_conference(self, conference: str) -> dict[str, int]:
        def run(con: sqlite3.Connection) -> dict[str, int]:
            return {
                table: con.execute(
                    f"DELETE FROM {table} WHERE conference = ?",  # noqa: S608 (constant names)
                    (conference,),
                ).rowcount
                for table in PER_CONFERENCE_TABLES
            }

        return dict(await self._write(run))

    # -- erasing personal data (confsvc.privacy) ------------------------------

    async def rewrite(
        self,
        conference: str,
        expected_seq: int,
        data: Mapping[int, dict[str, Any]],
        records: Sequence[NewRecord],
        *,
        outbox: Sequence[OutboxChange] = (),
    ) -> list[Event]:
        rows = [
            (conference, expected_seq + i + 1, r.type, r.at, r.actor, _dumps(r.data))
            for i, r in enumerate(records)
        ]

        def run(con: sqlite3.Connection) -> None:
            row = con.execute(
                "SELECT max(seq) FROM events WHERE conference = ?", (conference,)
            ).fetchone()
            if (row[0] or 0) != expected_seq:
                raise ConcurrencyError(conference, expected_seq, row[0] or 0)
            con.executemany(
                "UPDATE events SET data = ? WHERE conference = ? AND seq = ?",
                [(_dumps(d), conference, seq) for seq, d in data.items()],
            )
            con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
            for c in outbox:
                con.execute(
                    "UPDATE outbox SET payload = ?, status = coalesce(?, status), "
                    "last_error = coalesce(?, last_error) WHERE id = ? AND conference = ?",
                    (_dumps(c.payload), c.status, c.last_error, c.id, conference),
                )

        await self._write(run)
        return [
            Event(seq=seq, type=r.type, at=r.at, actor=r.actor, data=r.data)
            for (_, seq, *_rest), r in zip(rows, records, strict=True)
        ]

    async def compact(self) -> None:
        """``VACUUM`` (every page rewritten: old row images leave the file), then a
        truncating checkpoint (the WAL, which held them too, goes to zero bytes)."""

        def run() -> None:
            con = _connect(self.path)
            try:
                con.execute("VACUUM")
                for _attempt in range(50):
                    busy, _log, _done = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    if not busy:
                        return
                    time.sleep(0.1)  # a reader of another process is inside the WAL
                raise StoreError(
                    f"SQLite {self.path}: the WAL could not be truncated (a reader kept it "
                    "busy); run the command again when the server is idle"
                )
            finally:
                con.close()

        if self._closed:
            raise StoreError("the store is closed")
        if self.path != ":memory:":
            await asyncio.to_thread(run)

    # -- outbox (used by confsvc.mail) ---------------------------------------

    async def outbox_sql(self, sql: str, params: tuple[Any, ...] = (), *, write: bool) -> list[Any]:
        """Run one statement on the outbox table (the mail sender owns its queries)."""
        if write:
            return list(await self._write(lambda con: con.execute(sql, params).fetchall()))
        return await self._read(sql, params)

    # -- media homes (confsvc.store.homes) ------------------------------------

    async def home_heartbeat(self, node: str, url: str, now: float, ttl_s: float) -> list[str]:
        """Renew this node and its leases; the conferences it is home of."""
        return list(
            await self._write(lambda con: homes.sqlite_heartbeat(con, node, url, now, ttl_s))
        )

    async def claim_home(
        self, conference: str, node: str, url: str, now: float, ttl_s: float
    ) -> homes.HomeLease:
        """The conference's live home, or a new one (the least loaded live node)."""
        home: homes.HomeLease = await self._write(
            lambda con: homes.sqlite_claim(con, conference, node, url, now, ttl_s)
        )
        return home

    async def release_homes(self, node: str) -> None:
        """Drop this node's leases and its row (a clean stop: others take over at once)."""
        await self._write(lambda con: homes.sqlite_release(con, node))

    async def ping(self) -> None:
        if self._closed:
            raise StoreError(f"SQLite {self.path}: the store is closed")
        if not self._thread.is_alive():
            raise StoreError(f"SQLite {self.path}: the writer thread has stopped")
        try:
            await self._read("SELECT 1", ())
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wq.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._reader.submit(self._reader_con.close).result()
        self._reader.shutdown(wait=True)


def _settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)
