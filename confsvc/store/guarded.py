"""Every store call with a deadline: a store that is down or does not answer in time
raises ``StoreUnavailable`` (the node answers ``unavailable`` with ``retry_after``).

``GuardedStore`` wraps an engine and bounds each of its coroutine methods by
``store_timeout_s``, so the hub's lock is never held across an unbounded wait. A call
that timed out may still have been applied (the commit was sent, its answer lost): the
client sends the command again with its idempotency key, and the node, losing the append
race to its own earlier write, finds the key and answers with the first outcome.

Not for retrying: the client retries (docs/protocol.md), not the store.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from confsvc.store.base import EventStore, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

# A client told to come back waits this long (seconds): an outage the deadline caught
# is rarely over sooner, and pages re-send by themselves.
RETRY_AFTER_S = 1.0


class StoreUnavailable(StoreError):
    """The store is down or too slow; ``retry_after``: seconds before sending again."""

    def __init__(self, message: str, retry_after: float = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _down_errors() -> tuple[type[BaseException], ...]:
    """What a store that cannot be reached raises (asyncpg only when it is installed)."""
    errors: list[type[BaseException]] = [OSError]
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return tuple(errors)
    errors += [asyncpg.PostgresConnectionError, asyncpg.InterfaceError]
    errors += [asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError]
    return tuple(errors)


DOWN = _down_errors()


def guard(store: EventStore, timeout_s: float) -> EventStore:
    """``store`` with every call bounded by ``timeout_s`` (config ``store_timeout_s``)."""
    return cast(EventStore, GuardedStore(store, timeout_s))


class GuardedStore:
    """The wrapped store's methods, each bounded by ``timeout_s``."""

    def __init__(self, inner: EventStore, timeout_s: float) -> None:
        self.inner = inner
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"GuardedStore({self.inner!r}, {self.timeout_s} s)"

    async def _call(self, name: str, call: Awaitable[T]) -> T:
        task = asyncio.ensure_future(call)
        try:
            # Not wait_for: it waits for the cancelled call to finish, and asyncpg's
            # cancellation talks to the server that does not answer.
            await asyncio.wait({task}, timeout=self.timeout_s)
            if not task.done():
                task.cancel()
                task.add_done_callback(_retrieve)
                raise TimeoutError
            return task.result()
        except asyncio.CancelledError:
            task.cancel()
            raise
        except TimeoutError:
            log.warning("store: %s took longer than %.1f s", name, self.timeout_s)
            raise StoreUnavailable(
                f"the store did not answer within {self.timeout_s:g} s"
            ) from None
        except StoreError:
            raise
        except sqlite3.OperationalError as exc:
            if not any(w in str(exc) for w in ("locked", "busy", "disk I/O", "unable to open")):
                raise  # a bug, not an outage
            log.warning("store: %s failed: %s", name, exc)
            raise StoreUnavailable("the store is busy") from None
        except DOWN as exc:
            log.warning("store: %s failed: %s", name, exc)
            raise StoreUnavailable(f"the store is unavailable ({type(exc).__name__})") from None

    async def close(self) -> None:
        # Closing waits for what is running; bounded too, but never reported as an outage.
        try:
            await asyncio.wait_for(self.inner.close(), self.timeout_s * 2)
        except TimeoutError:
            log.warning("store: close took longer than %.1f s", self.timeout_s * 2)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        method: Callable[..., Awaitable[Any]] = attr

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            return await self._call(name, method(*args, **kwargs))

        guarded.__name__ = name
        return guarded


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A timed-out call, cancelled and left to end by itself: its outcome is dropped."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("store: a timed-out call ended with %r", task.exception())
