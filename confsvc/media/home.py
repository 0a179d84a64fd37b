"""This node's part in the media homes: which conferences' relays run here.

Each conference's media runs on one node at a time, its *home*, chosen through the store
(``confsvc.store.homes``: a lease per conference, renewed by the home's heartbeat). A
node asked for a conference's media asks ``MediaHomes.home_of``: the live home, or a new
one (the least loaded live node). If the home is this node the relay serves the client;
otherwise the signalling is forwarded there (``confsvc.media.forward``).

The heartbeat runs every quarter of ``media_lease_s``. When it finds a lease gone (the
store gave it to another node after this one missed its heartbeats), ``on_lost`` is
called for that conference: the relay closes its connections there, so two nodes never
both act as the home for long. While the store does not answer at all, media already
flowing goes on (nobody can take the lease then); only new offers wait.

Not for the store's side of the lease (``confsvc.store.homes``) or for forwarding.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from confsvc.aio import cancel_and_wait
from confsvc.config import Config
from confsvc.store.homes import HomeLease

log = logging.getLogger(__name__)

LostHook = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Home:
    """Where a conference's media is: ``mine``, or the node at ``url``."""

    conference: str
    node: str
    url: str
    mine: bool


def node_name() -> str:
    """A name for this process among the nodes (host, pid and a random part)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class MediaHomes:
    """The leases this node holds, its heartbeat, and ``home_of``.

    A store without media homes (a test's fake) makes this node the home of everything.
    """

    def __init__(
        self, store: Any, config: Config, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.node = node_name()
        self.url = config.node_base_url
        self.ttl_s = config.media_lease_s
        self.clock = clock
        self.held: dict[str, float] = {}  # conference -> until when the lease holds
        self.on_lost: LostHook | None = None
        self.enabled = hasattr(store, "claim_home")
        self.heartbeats = 0
        self.failures = 0
        self._last_ok: float | None = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"MediaHomes({self.node} at {self.url})"

    async def start(self) -> None:
        if not self.enabled:
            return
        await self.beat()
        self._task = asyncio.create_task(self._beating(), name="media-home-heartbeat")

    async def close(self) -> None:
        """Stop the heartbeat and give the leases back, so another node takes over at once."""
        await cancel_and_wait(self._task)
        self._task = None
        if self.enabled:
            try:
                await self.store.release_homes(self.node)
            except Exception as exc:
                log.warning("%r: leases not released (they expire by themselves): %s", self, exc)
        self.held.clear()

    async def home_of(self, conference: str) -> Home:
        """The conference's home (claimed for the least loaded live node when it has none)."""
        now = self.clock()
        if not self.enabled or self.held.get(conference, 0.0) > now:
            return Home(conference, self.node, self.url, True)
        lease: HomeLease = await self.store.claim_home(
            conference, self.node, self.url, now, self.ttl_s
        )
        mine = lease.node == self.node
        if mine:
            if conference not in self.held:
                log.info("%r: home of %s", self, conference)
            self.held[conference] = lease.expires_at
        return Home(conference, lease.node, lease.url, mine)

    async def beat(self) -> None:
        """One heartbeat: renew this node and its leases, and let go of the ones lost."""
        now = self.clock()
        try:
            held = await self.store.home_heartbeat(self.node, self.url, now, self.ttl_s)
        except Exception as exc:
            # The media already flowing goes on: a store that nobody reaches gives the
            # lease to nobody. New offers wait for it (home_of asks the store again once
            # the lease this node knew of has run out); the next heartbeat that gets
            # through says which leases are still ours.
            self.failures += 1
            since = f" (none through for {now - self._last_ok:.1f} s)" if self._last_ok else ""
            log.warning("%r: heartbeat failed%s: %s", self, since, exc)
            return
        self.heartbeats += 1
        self._last_ok = now
        lost = set(self.held) - set(held)
        for conference in held:
            self.held[conference] = now + self.ttl_s
        await self._lose(lost)

    async def _lose(self, conferences: set[str]) -> None:
        for conference in sorted(conferences):
            self.held.pop(conference, None)
            log.warning("%r: no longer the home of %s", self, conference)
            if self.on_lost is not None:
                try:
                    await self.on_lost(conference)
                except Exception:
                    log.exception(
                        "%r: closing %s after its lease was lost failed", self, conference
                    )

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 4)
            await self.beat()

    def stats(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "url": self.url,
            "lease_s": self.ttl_s,
            "homes": sorted(self.held),
            "heartbeats": self.heartbeats,
            "heartbeat_failures": self.failures,
        }
