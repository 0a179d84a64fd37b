"""Appending the mail adapter's events, whoever else writes the log meanwhile."""

from __future__ import annotations

from confsvc.core.events import Event, NewEvent
from confsvc.service import Hub
from confsvc.store import ConcurrencyError


async def append_retry(hub: Hub, events: list[NewEvent], attempts: int = 10) -> list[Event]:
    """``hub.append_system``, catching up and trying again when another writer was first
    (another node, or ``confsvc mail send-due`` in its own process)."""
    for _ in range(attempts - 1):
        try:
            return await hub.append_system(events)
        except ConcurrencyError:
            await hub.catch_up()
    return await hub.append_system(events)
