"""Event stores: one contract (``base.EventStore``), two engines (SQLite, PostgreSQL)."""

from __future__ import annotations

from confsvc.store.base import (
    ConcurrencyError,
    EventStore,
    NewRecord,
    OutboxChange,
    OutboxRow,
    StoreError,
)


async def open_store(dsn: str) -> EventStore:
    """Open a store by DSN: ``postgresql://…`` or ``postgres://…``, else a SQLite file path.

    ``sqlite:///path`` and a plain path both mean SQLite.
    """
    if dsn.startswith(("postgresql://", "postgres://")):
        from confsvc.store.postgres import PostgresStore

        return await PostgresStore.open(dsn)
    from confsvc.store.sqlite import SqliteStore

    return await SqliteStore.open(dsn.removeprefix("sqlite:///").removeprefix("sqlite://"))


def describe(dsn: str) -> str:
    """The DSN without its password, for logs."""
    if "://" in dsn and "@" in dsn:
        scheme, rest = dsn.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else dsn
    return dsn


__all__ = [
    "ConcurrencyError",
    "EventStore",
    "NewRecord",
    "OutboxChange",
    "OutboxRow",
    "StoreError",
    "describe",
    "open_store",
]
