"""The event store contract that both engines fulfil (tests/integration/test_store_contract.py).

An append names the seq it expects the log to end at; if another writer got there first
it fails with ``ConcurrencyError`` and writes nothing. An append is acknowledged only
once it is durable. Outbox rows (mail to send) are written in the same transaction as the
events that need them: both are there, or neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confsvc.core.events import Event


class StoreError(Exception):
    pass


class ConcurrencyError(StoreError):
    def __init__(self, conference: str, expected: int, actual: int | None = None) -> None:
        got = "" if actual is None else f", the log is at {actual}"
        super().__init__(f"Conference({conference}): expected the log at seq {expected}{got}")
        self.conference = conference
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, slots=True, kw_only=True)
class NewRecord:
    type: str
    at: float
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """A mail to send: ``key`` is unique (a retried append never queues it twice)."""

    key: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxChange:
    """An outbox row rewritten in place (personal-data erasure); ``status`` None keeps it."""

    id: int
    payload: dict[str, Any]
    status: str | None = None
    last_error: str | None = None


class EventStore(Protocol):
    async def append(
        self,
        conference: str,
        expected_seq: int,
        records: Sequence[NewRecord],
        *,
        outbox: Sequence[OutboxRow] = (),
    ) -> list[Event]:
        """Append after ``expected_seq``; return the stored events with their seq."""
        ...

    async def read(self, conference: str, after_seq: int = 0) -> list[Event]:
        """Events with seq > ``after_seq``, in order."""
        ...

    async def last_seq(self, conference: str) -> int: ...

    async def list_conferences(self) -> list[str]: ...

    async def delete_conference(self, conference: str) -> dict[str, int]:
        """Remove every row held for the conference (its events and outbox rows) in one
        transaction; the rows removed per table. Not for archiving: that is an event."""
        ...

    async def ping(self) -> None:
        """A cheap query; raise ``StoreError`` naming the problem if the store does not answer.

        For ``/readyz``; the caller bounds it with a timeout. Not a liveness check of the
        process (``/healthz`` is that).
        """
        ...

    async def rewrite(
        self,
        conference: str,
        expected_seq: int,
        data: Mapping[int, dict[str, Any]],
        records: Sequence[NewRecord],
        *,
        outbox: Sequence[OutboxChange] = (),
    ) -> list[Event]:
        """Replace the ``data`` of stored events (by seq) and append ``records`` after
        ``expected_seq``, with the outbox changes, in one transaction (``ConcurrencyError``
        and nothing written if the log moved on). Only for erasing personal data
        (``confsvc.privacy``): the log is otherwise append-only."""
        ...

    async def compact(self) -> None:
        """Make rewritten rows unrecoverable from the store's files where the engine can:
        SQLite ``VACUUM`` and a truncating WAL checkpoint; PostgreSQL ``VACUUM FULL`` of
        the events and outbox tables (backups still hold the old rows: docs/privacy.md)."""
        ...

    async def close(self) -> None: ...
