"""The outbox table as a row state machine (after pretalx's mail queue).

``queued → sending → sent``, or back to ``queued`` with ``next_attempt_at`` moved on by
the backoff, or ``failed`` for good (the error is kept in ``last_error``). A row is
claimed (``sending``) and committed before its mail is handed to SMTP, and settled
(``sent``) as soon as the server has accepted it, one row at a time; a sender that dies
leaves the rest in ``sending``: ``recover`` puts them back in the queue when a sender
starts. Only the one mail in flight at the crash may then go twice, none goes zero
times (at least once; the receiver dedupes by Message-ID). ``release`` puts claimed rows
back untouched when the fault is the sender's own (its server, login or TLS). Rows are
written by ``Hub`` in the same transaction as their event.

Queries go through the store's ``outbox_sql`` (``?`` placeholders, both engines).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxItem:
    id: int
    key: str
    conference: str
    payload: dict[str, Any]
    attempts: int


def _payload(raw: Any) -> dict[str, Any]:
    return dict(json.loads(raw)) if isinstance(raw, (str, bytes)) else dict(raw)


class Outbox:
    """Claim, settle and count outbox rows. Not for writing rows: ``Hub`` does that."""

    def __init__(self, store: Any) -> None:
        self.store = store
        # PostgreSQL: several nodes may claim at once; SKIP LOCKED keeps them apart.
        self._lock = " FOR UPDATE SKIP LOCKED" if type(store).__name__ == "PostgresStore" else ""

    async def recover(self) -> int:
        """Requeue rows left in ``sending`` by a sender that stopped (crash, SIGKILL)."""
        rows = await self.store.outbox_sql(
            "UPDATE outbox SET status = ?, next_attempt_at = 0 WHERE status = ? RETURNING id",
            (QUEUED, SENDING),
            write=True,
        )
        return len(rows)

    async def claim(self, now: float, limit: int = 50) -> list[OutboxItem]:
        sql = (
            "UPDATE outbox SET status = ?, attempts = attempts + 1 WHERE id IN ("  # noqa: S608 (the lock clause is a constant)
            "SELECT id FROM outbox WHERE status = ? AND next_attempt_at <= ? "
            "ORDER BY id LIMIT ?" + self._lock + ") "
            "RETURNING id, key, conference, payload, attempts"
        )
        rows = await self.store.outbox_sql(
            sql,
            (SENDING, QUEUED, now, limit),
            write=True,
        )
        items = [
            OutboxItem(id=r[0], key=r[1], conference=r[2], payload=_payload(r[3]), attempts=r[4])
            for r in rows
        ]
        items.sort(key=lambda i: i.id)
        return items

    async def sent(self, ids: list[int], now: float) -> None:
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        await self.store.outbox_sql(
            f"UPDATE outbox SET status = ?, sent_at = ?, last_error = NULL WHERE id IN ({marks})",  # noqa: S608
            (SENT, now, *ids),
            write=True,
        )

    async def release(self, ids: list[int]) -> None:
        """Put claimed rows back in the queue as they were (the try is not counted): the
        sender could not reach its server, which is no fault of these mails."""
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        await self.store.outbox_sql(
            f"UPDATE outbox SET status = ?, attempts = attempts - 1 WHERE id IN ({marks})"  # noqa: S608
            " AND status = ?",
            (QUEUED, *ids, SENDING),
            write=True,
        )

    async def retry(self, item_id: int, at: float, error: str) -> None:
        await self.store.outbox_sql(
            "UPDATE outbox SET status = ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (QUEUED, at, error[:2000], item_id),
            write=True,
        )

    async def failed(self, item_id: int, error: str) -> None:
        await self.store.outbox_sql(
            "UPDATE outbox SET status = ?, last_error = ? WHERE id = ?",
            (FAILED, error[:2000], item_id),
            write=True,
        )

    async def counts(self) -> dict[str, int]:
        rows = await self.store.outbox_sql(
            "SELECT status, count(*) FROM outbox GROUP BY status", (), write=False
        )
        return {str(s): int(n) for s, n in rows}

    async def rows(self) -> list[dict[str, Any]]:
        rows = await self.store.outbox_sql(
            "SELECT id, key, status, attempts, last_error, payload FROM outbox ORDER BY id",
            (),
            write=False,
        )
        return [
            {
                "id": r[0],
                "key": r[1],
                "status": r[2],
                "attempts": r[3],
                "last_error": r[4],
                "payload": _payload(r[5]),
            }
            for r in rows
        ]
