"""Media homes in the store: which node runs each conference's relay (a lease).

Theory of operation. Every node (or worker process) writes a row in ``media_nodes``
with the URL other nodes reach it at and an expiry, renewed by its heartbeat; the
heartbeat also renews every lease in ``media_homes`` that names the node. A node asked
for a conference's media calls ``claim``: a live lease is returned as it is; a missing
or expired one goes to the live node holding the fewest leases (the asker on a tie), so
busy conferences spread over the nodes and workers. A node that stops heartbeating
loses its leases when they expire; one that stops cleanly releases them at once.

Both engines run the same statements: SQLite in one ``BEGIN IMMEDIATE`` transaction
(the writer thread's), PostgreSQL in one transaction under an advisory lock, so two
nodes claiming the same conference at once agree on one home. Times are seconds since
the epoch from the caller's clock: nodes' clocks must agree (NTP) to well under the
lease's length.

Not for the relay itself (``confsvc.media.home`` decides when to claim and what to do
when a lease is lost) or for anything kept for good: a lease is not conference data.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

# PostgreSQL advisory lock held while one node claims a home (migrations use 727274).
PG_HOMES_LOCK = 727275
# Rows of nodes dead this long are deleted by the next heartbeat.
FORGET_DEAD_S = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeLease:
    """A conference's media home: the node, the URL it is reached at, until when."""

    conference: str
    node: str
    url: str
    expires_at: float


class HomeStore(Protocol):
    """What both engines offer for media homes (``SqliteStore``, ``PostgresStore``)."""

    async def home_heartbeat(self, node: str, url: str, now: float, ttl_s: float) -> list[str]:
        """Renew the node's row and its leases; the conferences it is home of."""
        ...

    async def claim_home(
        self, conference: str, node: str, url: str, now: float, ttl_s: float
    ) -> HomeLease:
        """The live lease, or a new one for the least loaded live node (``node`` on a tie)."""
        ...

    async def release_homes(self, node: str) -> None: ...


# -- the statements, with ? placeholders (PostgreSQL's $n are made from them) -------------

_NODE_UPSERT = (
    "INSERT INTO media_nodes (node, url, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (node) DO UPDATE SET url = excluded.url, expires_at = excluded.expires_at"
)
_RENEW = "UPDATE media_homes SET expires_at = ? WHERE node = ?"
_FORGET = "DELETE FROM media_nodes WHERE expires_at < ?"
_HELD = "SELECT conference FROM media_homes WHERE node = ? ORDER BY conference"
_LEASE = (
    "SELECT h.node, coalesce(n.url, ''), h.expires_at FROM media_homes h "
    "LEFT JOIN media_nodes n ON n.node = h.node WHERE h.conference = ?"
)
# Live nodes, least loaded first (leases still live), the asker first among equals.
_CANDIDATES = (
    "SELECT n.node, n.url FROM media_nodes n WHERE n.expires_at >= ? "
    "ORDER BY (SELECT count(*) FROM media_homes h WHERE h.node = n.node AND h.expires_at >= ?), "
    "CASE WHEN n.node = ? THEN 0 ELSE 1 END, n.node"
)
_TAKE = (
    "INSERT INTO media_homes (conference, node, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (conference) DO UPDATE SET node = excluded.node, expires_at = excluded.expires_at"
)
_RELEASE_HOMES = "DELETE FROM media_homes WHERE node = ?"
_RELEASE_NODE = "DELETE FROM media_nodes WHERE node = ?"


def _pg(sql: str) -> str:
    out, n = [], 0
    for ch in sql:
        if ch == "?":
            n += 1
            out.append(f"${n}")
        else:
            out.append(ch)
    return "".join(out)


def _decide(
    conference: str,
    asker: str,
    asker_url: str,
    now: float,
    ttl_s: float,
    lease: tuple[Any, ...] | None,
    candidates: list[tuple[Any, ...]],
) -> tuple[HomeLease, bool]:
    """The home to report, and whether it is a new lease to write."""
    if lease is not None and float(lease[2]) >= now:
        return HomeLease(
            conference=conference, node=lease[0], url=lease[1], expires_at=float(lease[2])
        ), False
    node, url = (candidates[0][0], candidates[0][1]) if candidates else (asker, asker_url)
    return HomeLease(conference=conference, node=node, url=url, expires_at=now + ttl_s), True


# -- SQLite (called on the store's writer thread, inside its transaction) ---------------


def sqlite_heartbeat(
    con: sqlite3.Connection, node: str, url: str, now: float, ttl_s: float
) -> list[str]:
    con.execute(_NODE_UPSERT, (node, url, now + ttl_s))
    con.execute(_RENEW, (now + ttl_s, node))
    con.execute(_FORGET, (now - FORGET_DEAD_S,))
    return [r[0] for r in con.execute(_HELD, (node,)).fetchall()]


def sqlite_claim(
    con: sqlite3.Connection, conference: str, node: str, url: str, now: float, ttl_s: float
) -> HomeLease:
    con.execute(_NODE_UPSERT, (node, url, now + ttl_s))
    lease = con.execute(_LEASE, (conference,)).fetchone()
    candidates = con.execute(_CANDIDATES, (now, now, node)).fetchall()
    home, new = _decide(conference, node, url, now, ttl_s, lease, candidates)
    if new:
        con.execute(_TAKE, (conference, home.node, home.expires_at))
    return home


def sqlite_release(con: sqlite3.Connection, node: str) -> None:
    con.execute(_RELEASE_HOMES, (node,))
    con.execute(_RELEASE_NODE, (node,))


# -- PostgreSQL (an asyncpg connection) ------------------------------------------------


async def postgres_heartbeat(con: Any, node: str, url: str, now: float, ttl_s: float) -> list[str]:
    async with con.transaction():
        await con.execute(_pg(_NODE_UPSERT), node, url, now + ttl_s)
        await con.execute(_pg(_RENEW), now + ttl_s, node)
        await con.execute(_pg(_FORGET), now - FORGET_DEAD_S)
        rows = await con.fetch(_pg(_HELD), node)
    return [r[0] for r in rows]


async def postgres_claim(
    con: Any, conference: str, node: str, url: str, now: float, ttl_s: float
) -> HomeLease:
    async with con.transaction():
        await con.execute(f"SELECT pg_advisory_xact_lock({PG_HOMES_LOCK})")
        await con.execute(_pg(_NODE_UPSERT), node, url, now + ttl_s)
        lease = await con.fetchrow(_pg(_LEASE), conference)
        candidates = await con.fetch(_pg(_CANDIDATES), now, now, node)
        home, new = _decide(
            conference,
            node,
            url,
            now,
            ttl_s,
            tuple(lease) if lease is not None else None,
            [tuple(c) for c in candidates],
        )
        if new:
            await con.execute(_pg(_TAKE), conference, home.node, home.expires_at)
    return home


async def postgres_release(con: Any, node: str) -> None:
    async with con.transaction():
        await con.execute(_pg(_RELEASE_HOMES), node)
        await con.execute(_pg(_RELEASE_NODE), node)
