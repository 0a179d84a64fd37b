"""Store schema versions: forward-only migrations at start, on SQLite and PostgreSQL.

"Today's schema" is the DDL the store created before versions existed (tables, no
version); it is written here by hand, as that code did, so the tests start from a store
that code made, not from one the migrations made.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from confsvc.store import NewRecord, OutboxRow, open_store
from confsvc.store.migrations import (
    LATEST,
    MIGRATIONS,
    Migration,
    SchemaTooNew,
    migrate_postgres,
    migrate_sqlite,
    sqlite_version,
)
from tests.conftest import SAMPLE

PRE_VERSION_SQLITE = """
CREATE TABLE IF NOT EXISTS events (
    conference TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, at REAL NOT NULL,
    actor TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (conference, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, conference TEXT NOT NULL,
    seq INTEGER NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT, created_at REAL NOT NULL, sent_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
INSERT INTO events VALUES ('conf-old', 1, 'c.created', 1000.0, 'system', '{"n":1}');
INSERT INTO outbox (key, conference, seq, payload, created_at)
    VALUES ('k-old', 'conf-old', 1, '{"to":["a@example.org"]}', 1000.0);
"""

PRE_VERSION_POSTGRES = """
CREATE TABLE IF NOT EXISTS events (
    conference TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, data JSONB NOT NULL,
    PRIMARY KEY (conference, seq)
);
CREATE TABLE IF NOT EXISTS outbox (
    id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL UNIQUE, conference TEXT NOT NULL,
    seq BIGINT NOT NULL, payload JSONB NOT NULL, status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_error TEXT, created_at DOUBLE PRECISION NOT NULL, sent_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
INSERT INTO events VALUES ('conf-old', 1, 'c.created', 1000.0, 'system', '{"n":1}');
INSERT INTO outbox (key, conference, seq, payload, created_at)
    VALUES ('k-old', 'conf-old', 1, '{"to":["a@example.org"]}', 1000.0);
"""

BROKEN = Migration(
    version=LATEST + 1,
    description="adds a table, then fails",
    sqlite=("CREATE TABLE half_done (x INTEGER)", "CREATE TABLE events (x INTEGER)"),
    postgres=("CREATE TABLE half_done (x INTEGER)", "CREATE TABLE events (x INTEGER)"),
)


def sqlite_indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    con.close()
    return {r[0] for r in rows}


def user_version(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("PRAGMA user_version").fetchone()[0])
    finally:
        con.close()


# -- SQLite --------------------------------------------------------------------------


async def test_sqlite_store_made_before_versions_is_version_1_and_migrates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(PRE_VERSION_SQLITE)
    con.close()
    assert user_version(path) == 0
    assert "outbox_conference" not in sqlite_indexes(path)

    store = await open_store(str(path))
    try:
        assert [(e.seq, e.type, e.data) for e in await store.read("conf-old")] == [
            (1, "c.created", {"n": 1})
        ]
        rows = await store.outbox_sql("SELECT key FROM outbox", write=False)  # type: ignore[attr-defined]
        assert rows == [("k-old",)]
        await store.append("conf-old", 1, [NewRecord(type="x.y", at=1.0, actor="t")])
    finally:
        await store.close()
    assert user_version(path) == LATEST
    assert "outbox_conference" in sqlite_indexes(path)


async def test_sqlite_new_store_gets_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = await open_store(str(path))
    await store.close()
    assert user_version(path) == LATEST
    assert {"outbox_due", "outbox_conference"} <= sqlite_indexes(path)


async def test_sqlite_store_at_the_latest_version_opens_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "twice.db"
    for _ in range(2):
        store = await open_store(str(path))
        await store.close()
    assert user_version(path) == LATEST


async def test_sqlite_store_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    store = await open_store(str(path))
    await store.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 5")
    con.close()
    with pytest.raises(SchemaTooNew) as caught:
        await open_store(str(path))
    assert str(caught.value) == (
        f"the store at {path} has schema version 5; this confsvc knows up to {LATEST}: "
        "upgrade confsvc"
    )
    assert user_version(path) == 5


def test_sqlite_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    con = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate_sqlite(con, str(path)) == LATEST
        with pytest.raises(sqlite3.OperationalError, match="table events already exists"):
            migrate_sqlite(con, str(path), (*MIGRATIONS, BROKEN))
        assert sqlite_version(con) == LATEST
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "half_done" not in tables
        assert not con.in_transaction
    finally:
        con.close()


def test_serve_on_a_newer_store_says_so_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    con = sqlite3.connect(path)
    con.executescript(PRE_VERSION_SQLITE)
    con.execute("PRAGMA user_version = 5")
    con.close()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "confsvc",
            "serve",
            "--agenda",
            str(SAMPLE),
            "--db",
            str(path),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"confsvc serve: error: the store at {path} has schema version 5; "
        f"this confsvc knows up to {LATEST}: upgrade confsvc"
    )
    assert "Traceback" not in result.stderr


# -- PostgreSQL ----------------------------------------------------------------------


@pytest.fixture
async def pg_schema() -> AsyncIterator[tuple[str, Any]]:
    """A fresh PostgreSQL schema: (DSN whose search path is that schema, a connection to it)."""
    dsn = os.environ.get("CONFSVC_TEST_POSTGRES")
    if not dsn:
        pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
    import asyncpg

    schema = f"migtest_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in dsn else "?"
    scoped = f"{dsn}{sep}search_path={schema}"
    con = await asyncpg.connect(scoped)
    try:
        yield scoped, con
    finally:
        await con.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def pg_indexes(con: Any) -> set[str]:
    rows = await con.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
    return {r[0] for r in rows}


async def test_postgres_store_made_before_versions_is_version_1_and_migrates(
    pg_schema: tuple[str, Any],
) -> None:
    dsn, con = pg_schema
    await con.execute(PRE_VERSION_POSTGRES)
    assert "outbox_conference" not in await pg_indexes(con)
    store = await open_store(dsn)
    try:
        assert [(e.seq, e.type, e.data) for e in await store.read("conf-old")] == [
            (1, "c.created", {"n": 1})
        ]
        await store.append(
            "conf-old",
            1,
            [NewRecord(type="x.y", at=1.0, actor="t")],
            outbox=[OutboxRow(key="k-new", payload={"to": []})],
        )
    finally:
        await store.close()
    assert await con.fetchval("SELECT version FROM confsvc_schema") == LATEST
    assert await con.fetchval("SELECT count(*) FROM confsvc_schema") == 1
    assert "outbox_conference" in await pg_indexes(con)
    assert await con.fetchval("SELECT count(*) FROM outbox") == 2


async def test_postgres_new_store_gets_the_latest_version(pg_schema: tuple[str, Any]) -> None:
    dsn, con = pg_schema
    for _ in range(2):
        store = await open_store(dsn)
        await store.close()
    assert await con.fetchval("SELECT version FROM confsvc_schema") == LATEST
    assert {"outbox_due", "outbox_conference"} <= await pg_indexes(con)


async def test_postgres_store_newer_than_the_code_is_refused(pg_schema: tuple[str, Any]) -> None:
    dsn, con = pg_schema
    store = await open_store(dsn)
    await store.close()
    await con.execute("UPDATE confsvc_schema SET version = 5")
    with pytest.raises(SchemaTooNew) as caught:
        await open_store(dsn)
    assert str(caught.value).endswith(
        f"has schema version 5; this confsvc knows up to {LATEST}: upgrade confsvc"
    )
    assert str(caught.value).startswith("the store at postgresql://")
    assert await con.fetchval("SELECT version FROM confsvc_schema") == 5


async def test_postgres_failed_migration_leaves_the_previous_version(
    pg_schema: tuple[str, Any],
) -> None:
    _dsn, con = pg_schema
    import asyncpg

    assert await migrate_postgres(con, "test") == LATEST
    with pytest.raises(asyncpg.DuplicateTableError):
        await migrate_postgres(con, "test", (*MIGRATIONS, BROKEN))
    assert await con.fetchval("SELECT version FROM confsvc_schema") == LATEST
    assert await con.fetchval("SELECT to_regclass('half_done')") is None
