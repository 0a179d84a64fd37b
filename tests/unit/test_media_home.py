"""``confsvc.media.home.MediaHomes`` against a store double: when a node is the home,
when it lets a conference go, and that a store outage drops nothing already flowing."""

from __future__ import annotations

from typing import Any

from confsvc.config import Config
from confsvc.media.home import MediaHomes
from confsvc.store.homes import HomeLease


class Leases:
    """The store's side of the lease, in memory: ``owner`` per conference."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}
        self.down = False
        self.claims = 0

    async def home_heartbeat(self, node: str, url: str, now: float, ttl_s: float) -> list[str]:
        if self.down:
            raise OSError("connection refused")
        return sorted(c for c, n in self.owner.items() if n == node)

    async def claim_home(
        self, conference: str, node: str, url: str, now: float, ttl_s: float
    ) -> HomeLease:
        self.claims += 1
        owner = self.owner.setdefault(conference, node)
        return HomeLease(
            conference=conference, node=owner, url=f"http://{owner}", expires_at=now + ttl_s
        )

    async def release_homes(self, node: str) -> None:
        self.owner = {c: n for c, n in self.owner.items() if n != node}


def homes(store: Any, clock: list[float]) -> MediaHomes:
    return MediaHomes(store, Config(media_lease_s=4.0), clock=lambda: clock[0])


async def test_the_first_node_asked_is_home_and_asks_the_store_again_only_after_its_lease() -> None:
    store, now = Leases(), [100.0]
    node = homes(store, now)
    assert (await node.home_of("c1")).mine
    assert (await node.home_of("c1")).mine
    assert store.claims == 1  # within the lease it knows, no store call
    now[0] = 105.0
    assert (await node.home_of("c1")).mine
    assert store.claims == 2


async def test_another_nodes_conference_is_not_mine_and_says_where() -> None:
    store, now = Leases(), [100.0]
    store.owner["c1"] = "node-x"
    home = await homes(store, now).home_of("c1")
    assert (home.mine, home.node, home.url) == (False, "node-x", "http://node-x")


async def test_a_lease_given_away_closes_that_conference_only() -> None:
    store, now = Leases(), [100.0]
    node = homes(store, now)
    closed: list[str] = []

    async def lost(conference: str) -> None:
        closed.append(conference)

    node.on_lost = lost
    await node.home_of("c1")
    await node.home_of("c2")
    store.owner["c1"] = "node-x"  # it missed its heartbeats: another node took c1
    await node.beat()
    assert closed == ["c1"]
    assert sorted(node.held) == ["c2"]


async def test_a_store_outage_drops_no_conference() -> None:
    store, now = Leases(), [100.0]
    node = homes(store, now)
    closed: list[str] = []

    async def lost(conference: str) -> None:
        closed.append(conference)

    node.on_lost = lost
    await node.home_of("c1")
    store.down = True
    for t in (101.0, 110.0, 200.0):  # far past the lease
        now[0] = t
        await node.beat()
    assert closed == []
    assert node.failures == 3
    store.down = False
    await node.beat()
    assert closed == [] and list(node.held) == ["c1"]
