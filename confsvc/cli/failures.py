"""Start-up and run failures said in one line: what went wrong and what to do.

``confsvc`` prints ``confsvc COMMAND: error: …`` and exits 1 instead of a traceback
(``-v`` shows the traceback too). ``explain`` knows the failures an operator meets; any
other exception is still one line, naming its type, with the hint to re-run with ``-v``.
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from confsvc.bus import BusError
from confsvc.store import StoreError, describe
from confsvc.store.migrations import SchemaTooNew


class StartupError(Exception):
    """A failure whose message already says what to do."""


def _dsn_of(args: Any) -> str:
    db = getattr(args, "db", None)
    return describe(db) if isinstance(db, str) else "the store"


def explain(exc: BaseException, args: Any) -> str:
    """One line for ``exc``: the problem and what to do about it."""
    if isinstance(exc, StartupError):
        return str(exc)
    if isinstance(exc, BusError):
        return f"{exc}; start Redis or correct --redis"
    if isinstance(exc, SchemaTooNew):  # the message says what to do
        return str(exc)
    if isinstance(exc, StoreError):
        return f"{exc}; check --db {_dsn_of(args)} and that its server runs"
    host = getattr(args, "host", None)
    port = getattr(args, "port", None)
    where = f"{host}:{port}" if host is not None else "the address"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the port is in use by another program; "
            "stop it or choose another with --port"
        )
    if isinstance(exc, OSError) and exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: no such address on this machine; check --host"
    if isinstance(exc, PermissionError) and exc.filename is None and port is not None:
        return f"cannot listen on {where}: permission denied; use a port above 1023"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"PostgreSQL database in {_dsn_of(args)} does not exist: {exc}; create it first"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return (
            f"PostgreSQL refused the login for {_dsn_of(args)}: {exc}; check the user and password"
        )
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return f"PostgreSQL refused the password for {_dsn_of(args)}; check the password"
    if isinstance(exc, asyncpg.PostgresError):
        return f"PostgreSQL at {_dsn_of(args)} failed: {exc}"
    if isinstance(exc, RedisConnectionError):
        url = describe(str(getattr(args, "redis", "") or "redis"))
        return f"cannot reach Redis at {url}: {exc}; start it or fix --redis"
    if isinstance(exc, RedisError):
        return f"Redis failed: {exc}"
    if isinstance(exc, sqlite3.Error):
        return (
            f"SQLite file {_dsn_of(args)} cannot be used: {exc}; check the path and its permissions"
        )
    if isinstance(exc, ConnectionRefusedError | TimeoutError) or (
        isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH)
    ):
        return f"cannot connect to {_dsn_of(args)}: {exc.strerror or exc}; is the server running?"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, OSError) and "connect" in str(exc).lower():
        return f"cannot connect to {_dsn_of(args)}: {exc}; is the server running?"
    return f"{type(exc).__name__}: {exc} (run with -v for the traceback)"
