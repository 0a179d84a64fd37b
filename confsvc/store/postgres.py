"""PostgreSQL event store (asyncpg). Same contract as the SQLite store.

An append is one statement: it inserts only if the log ends at ``expected_seq``, and the
primary key ``(conference, seq)`` makes the loser of a race fail instead of both winning.
With ``synchronous_commit`` on (PostgreSQL's default) a returned append is durable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from confsvc.core.events import Event, current_type
from confsvc.store import describe, homes
from confsvc.store.base import (
    ConcurrencyError,
    NewRecord,
    OutboxChange,
    OutboxRow,
    StoreError,
)
from confsvc.store.migrations import PER_CONFERENCE_TABLES, migrate_postgres

APPEND = """
WITH cur AS (SELECT coalesce(max(seq), 0) AS s FROM events WHERE conference = $1)
INSERT INTO events (conference, seq, type, at, actor, data)
SELECT $1, $2 + u.ord, u.t, u.a, u.ac, u.d::jsonb
FROM unnest($3::text[], $4::float8[], $5::text[], $6::text[]) WITH ORDINALITY
     AS u(t, a, ac, d, ord), cur
WHERE cur.s = $2
RETURNING seq
"""


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, *, min_size: int = 2, max_size: int = 10) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from None
        try:
            async with pool.acquire() as con:
                await migrate_postgres(con, describe(dsn))
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def append(
        self,
        conference: str,
        expected_seq: int,
        records: Sequence[NewRecord],
        *,
        outbox: Sequence[OutboxRow] = (),
    ) -> list[Event]:
        if not records:
            return []
        args = (
            conference,
            expected_seq,
            [r.type for r in records],
            [r.at for r in records],
            [r.actor for r in records],
            [_dumps(r.data) for r in records],
        )
        try:
            async with self._pool.acquire() as con:
                if outbox:
                    async with con.transaction():
                        seqs = await con.fetch(APPEND, *args)
                        if len(seqs) == len(records):
                            await con.executemany(
                                "INSERT INTO outbox (key, conference, seq, payload, created_at) "
                                "VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (key) DO NOTHING",
                                [
                                    (
                                        m.key,
                                        conference,
                                        expected_seq + len(records),
                                        _dumps(m.payload),
                                        records[-1].at,
                                    )
                                    for m in outbox
                                ],
                            )
                else:
                    seqs = await con.fetch(APPEND, *args)
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError(conference, expected_seq) from None
        if len(seqs) != len(records):
            raise ConcurrencyError(conference, expected_seq)
        return [
            Event(seq=expected_seq + i + 1, type=r.type, at=r.at, actor=r.actor, data=r.data)
            for i, r in enumerate(records)
        ]

    async def read(self, conference: str, after_seq: int = 0) -> list[Event]:
        async with self._pool.acquire() as con:
            rows = await con.fetch(
                "SELECT seq, type, at, actor, data::text FROM events "
                "WHERE conference = $1 AND seq > $2 ORDER BY seq",
                conference,
                after_seq,
            )
        loads = json.loads
        return [
            Event(seq=s, type=current_type(t), at=a, actor=ac, data=loads(d))
            for s, t, a, ac, d in rows
        ]

    async def last_seq(self, conference: str) -> int:
        async with self._pool.acquire() as con:
            value = await con.fetchval(
                "SELECT coalesce(max(seq), 0) FROM events WHERE conference = $1", conference
            )
        return int(value)

    async def list_conferences(self) -> list[str]:
        async with self._pool.acquire() as con:
            rows = await con.fetch("SELECT DISTINCT conference FROM events ORDER BY conference")
        return [r[0] for r in rows]

    async def delete_conference(self, conference: str) -> dict[str, int]:
        removed: dict[str, int] = {}
        async with self._pool.acquire() as con, con.transaction():
            for table in PER_CONFERENCE_TABLES:
                sql = f"DELETE FROM {table} WHERE conference = $1"  # noqa: S608 (constant names)
                status = await con.execute(sql, conference)
                removed[table] = int(status.rsplit(" ", 1)[1])  # "DELETE n"
        return removed

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
        # The append goes first: it inserts only if the log ends at expected_seq, and a
        # writer racing it fails on the primary key, so the rewrite sees the whole log.
        args = (
            conference,
            expected_seq,
            [r.type for r in records],
            [r.at for r in records],
            [r.actor for r in records],
            [_dumps(r.data) for r in records],
        )
        try:
            async with self._pool.acquire() as con, con.transaction():
                last = await con.fetchval(
                    "SELECT coalesce(max(seq), 0) FROM events WHERE conference = $1", conference
                )
                if last != expected_seq:
                    raise ConcurrencyError(conference, expected_seq, int(last))
                seqs = await con.fetch(APPEND, *args)
                if len(seqs) != len(records):
                    raise ConcurrencyError(conference, expected_seq)
                await con.executemany(
                    "UPDATE events SET data = $3::jsonb WHERE conference = $1 AND seq = $2",
                    [(conference, seq, _dumps(d)) for seq, d in data.items()],
                )
                await con.executemany(
                    "UPDATE outbox SET payload = $1::jsonb, status = coalesce($2, status), "
                    "last_error = coalesce($3, last_error) WHERE id = $4 AND conference = $5",
                    [(_dumps(c.payload), c.status, c.last_error, c.id, conference) for c in outbox],
                )
        except asyncpg.UniqueViolationError:
            raise ConcurrencyError(conference, expected_seq) from None
        return [
            Event(seq=expected_seq + i + 1, type=r.type, at=r.at, actor=r.actor, data=r.data)
            for i, r in enumerate(records)
        ]

    async def compact(self) -> None:
        """``VACUUM FULL``: the tables are rewritten, so the old row versions leave the
        data files (it locks each table for as long as the copy takes)."""
        async with self._pool.acquire() as con:
            await con.execute("VACUUM FULL events, outbox")

    async def outbox_sql(self, sql: str, params: tuple[Any, ...] = (), *, write: bool) -> list[Any]:
        """Run one statement on the outbox table (the mail sender owns its queries).

        SQL is written with ``?`` placeholders, as for SQLite; they become ``$n`` here.
        """
        n = 0
        out = []
        for ch in sql:
            if ch == "?":
                n += 1
                out.append(f"${n}")
            else:
                out.append(ch)
        async with self._pool.acquire() as con:
            rows = await con.fetch("".join(out), *params)
        return [tuple(r) for r in rows]

    # -- media homes (confsvc.store.homes) ------------------------------------

    async def home_heartbeat(self, node: str, url: str, now: float, ttl_s: float) -> list[str]:
        """Renew this node and its leases; the conferences it is home of."""
        async with self._pool.acquire() as con:
            return await homes.postgres_heartbeat(con, node, url, now, ttl_s)

    async def claim_home(
        self, conference: str, node: str, url: str, now: float, ttl_s: float
    ) -> homes.HomeLease:
        """The conference's live home, or a new one (the least loaded live node)."""
        async with self._pool.acquire() as con:
            return await homes.postgres_claim(con, conference, node, url, now, ttl_s)

    async def release_homes(self, node: str) -> None:
        """Drop this node's leases and its row (a clean stop: others take over at once)."""
        async with self._pool.acquire() as con:
            await homes.postgres_release(con, node)

    async def ping(self) -> None:
        if self._pool.is_closing():
            raise StoreError("PostgreSQL: the connection pool is closed")
        try:
            async with self._pool.acquire() as con:
                await con.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await self._pool.close()
