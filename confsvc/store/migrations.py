"""The store's schema version and its forward-only migrations, for both engines.

Each migration is a list of statements per engine; ``migrate_sqlite`` and
``migrate_postgres`` apply the ones a store lacks at start, each in one transaction that
also records the new version, so a migration that fails leaves the store at the version
before it. A store written by a newer confsvc (a version above ``LATEST``) is refused
with ``SchemaTooNew``: an old binary must never write into a schema it does not know.

Where the version lives: SQLite's ``PRAGMA user_version`` (in the file's header, changed
inside the transaction); PostgreSQL's one-row table ``confsvc_schema``. A store made
before versions existed (its ``events`` table is there, no version) is version 1: the
baseline below is exactly the schema that code created.

Not for data fixes inside the event log: events are never rewritten by a migration.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from confsvc.store.base import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        description="the baseline: the event log and the mail outbox",
        sqlite=(
            """CREATE TABLE IF NOT EXISTS events (
                conference TEXT NOT NULL,
                seq INTEGER NOT NULL,
                type TEXT NOT NULL,
                at REAL NOT NULL,
                actor TEXT NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (conference, seq)
            ) WITHOUT ROWID""",
            """CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL UNIQUE,
                conference TEXT NOT NULL,
                seq INTEGER NOT NULL,
                payload TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'queued',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at REAL NOT NULL DEFAULT 0,
                last_error TEXT,
                created_at REAL NOT NULL,
                sent_at REAL
            )""",
            "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
        ),
        postgres=(
            """CREATE TABLE IF NOT EXISTS events (
                conference TEXT NOT NULL,
                seq BIGINT NOT NULL,
                type TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                actor TEXT NOT NULL,
                data JSONB NOT NULL,
                PRIMARY KEY (conference, seq)
            )""",
            """CREATE TABLE IF NOT EXISTS outbox (
                id BIGSERIAL PRIMARY KEY,
                key TEXT NOT NULL UNIQUE,
                conference TEXT NOT NULL,
                seq BIGINT NOT NULL,
                payload JSONB NOT NULL,
                status TEXT NOT NULL DEFAULT 'queued',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0,
                last_error TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                sent_at DOUBLE PRECISION
            )""",
            "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at)",
        ),
    ),
    Migration(
        version=2,
        description="outbox rows by conference (confsvc admin delete, personal data)",
        sqlite=("CREATE INDEX outbox_conference ON outbox (conference)",),
        postgres=("CREATE INDEX outbox_conference ON outbox (conference)",),
    ),
    Migration(
        version=3,
        description="media homes: live nodes and each conference's relay lease",
        sqlite=(
            """CREATE TABLE media_nodes (
                node TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                expires_at REAL NOT NULL
            )""",
            """CREATE TABLE media_homes (
                conference TEXT PRIMARY KEY,
                node TEXT NOT NULL,
                expires_at REAL NOT NULL
            )""",
        ),
        postgres=(
            """CREATE TABLE media_nodes (
                node TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE media_homes (
                conference TEXT PRIMARY KEY,
                node TEXT NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
)
LATEST = MIGRATIONS[-1].version
# The tables holding rows per conference (a ``conference`` column): a migration that adds
# one adds it here, so ``delete_conference`` removes everything a conference left.
# (``media_homes`` is not one: a lease is not data of the conference, it expires by itself.)
PER_CONFERENCE_TABLES: tuple[str, ...] = ("outbox", "events")
# PostgreSQL advisory lock held while one node migrates (several may start at once).
PG_LOCK = 727274


class SchemaTooNew(StoreError):
    """The store was written by a newer confsvc."""

    def __init__(self, where: str, found: int, known: int = LATEST) -> None:
        super().__init__(
            f"the store at {where} has schema version {found}; "
            f"this confsvc knows up to {known}: upgrade confsvc"
        )
        self.found = found
        self.known = known


def _check(where: str, found: int, migrations: tuple[Migration, ...]) -> None:
    known = migrations[-1].version if migrations else 0
    if found > known:
        raise SchemaTooNew(where, found, known)


# -- SQLite ----------------------------------------------------------------------


def sqlite_version(con: sqlite3.Connection) -> int:
    """The schema version of an open SQLite store (0: empty file)."""
    (version,) = con.execute("PRAGMA user_version").fetchone()
    if (
        version == 0
        and con.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
        ).fetchone()
    ):
        return 1  # made before schema versions existed
    return int(version)


def migrate_sqlite(
    con: sqlite3.Connection, where: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> int:
    """Bring the store on ``con`` (autocommit mode) to the newest version; return it."""
    applied = sqlite_version(con)
    _check(where, applied, migrations)
    for m in migrations:
        con.execute("BEGIN IMMEDIATE")
        try:
            current = sqlite_version(con)  # another process may have migrated meanwhile
            _check(where, current, migrations)
            if current >= m.version:
                con.execute("COMMIT")
                continue
            for statement in m.sqlite:
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {int(m.version)}")
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        log.info("store %s: schema version %d (%s)", where, m.version, m.description)
        applied = m.version
    return max(applied, sqlite_version(con))


# -- PostgreSQL --------------------------------------------------------------------


async def postgres_version(con: Any) -> int:
    """The schema version of the PostgreSQL store on ``con`` (its search path)."""
    if await con.fetchval("SELECT to_regclass('confsvc_schema')") is not None:
        return int(await con.fetchval("SELECT version FROM confsvc_schema"))
    if await con.fetchval("SELECT to_regclass('events')") is not None:
        return 1  # made before schema versions existed
    return 0


async def migrate_postgres(
    con: Any, where: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> int:
    """Bring the store on the asyncpg connection ``con`` to the newest version; return it.

    Each migration runs in its own transaction under an advisory lock, so nodes starting
    at once migrate one after the other and every other node sees the result.
    """
    version = 0
    for m in migrations:
        async with con.transaction():
            await con.execute(f"SELECT pg_advisory_xact_lock({PG_LOCK})")
            version = await postgres_version(con)
            _check(where, version, migrations)
            if version >= m.version:
                continue
            for statement in m.postgres:
                await con.execute(statement)
            await con.execute(
                "CREATE TABLE IF NOT EXISTS confsvc_schema (version INTEGER NOT NULL)"
            )
            await con.execute("DELETE FROM confsvc_schema")
            await con.execute("INSERT INTO confsvc_schema (version) VALUES ($1)", m.version)
            version = m.version
        log.info("store %s: schema version %d (%s)", where, m.version, m.description)
    if not migrations:
        version = await postgres_version(con)
        _check(where, version, migrations)
    return version
