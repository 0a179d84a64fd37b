"""The bus tells other nodes that a conference's log grew; they catch up from the store.

Only ``(conference, seq)`` travels: the store stays the one source of truth, so a lost
bus message delays an update but never corrupts state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

Handler = Callable[[str, int], Awaitable[None]]


class BusError(Exception):
    """The bus cannot be reached; the message names it."""


class Bus(Protocol):
    def on_publish(self, handler: Handler) -> None: ...

    async def publish(self, conference: str, seq: int) -> None: ...

    async def start(self) -> None: ...

    async def ping(self) -> None:
        """Raise ``BusError`` naming the problem unless the bus is connected (``/readyz``)."""
        ...

    async def close(self) -> None: ...


class LocalBus:
    """One node: nothing to tell anybody (the hub has already folded its own events)."""

    def on_publish(self, handler: Handler) -> None:
        self._handler = handler

    async def publish(self, conference: str, seq: int) -> None:
        return None

    async def start(self) -> None:
        return None

    async def ping(self) -> None:
        return None  # nothing to be connected to

    async def close(self) -> None:
        return None
