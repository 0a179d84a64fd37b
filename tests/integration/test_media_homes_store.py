"""Media-home leases in the store (``confsvc.store.homes``), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from confsvc.store import open_store
from tests.conftest import own_schema

TTL = 5.0
NOW = 2_000_000_000.0


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: Any, tmp_path: Path) -> AsyncIterator[Any]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            dsn = str(tmp_path / "homes.db")
        else:
            pg = os.environ.get("CONFSVC_TEST_POSTGRES")
            if not pg:
                pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
            dsn = await stack.enter_async_context(own_schema(pg))
        s = await open_store(dsn)
        stack.push_async_callback(s.close)
        yield s


async def test_the_first_node_asked_becomes_home_and_others_are_told_its_url(store: Any) -> None:
    home = await store.claim_home("conf-a", "node-a", "http://a", NOW, TTL)
    assert (home.node, home.url, home.expires_at) == ("node-a", "http://a", NOW + TTL)
    seen_by_b = await store.claim_home("conf-a", "node-b", "http://b", NOW + 1, TTL)
    assert (seen_by_b.node, seen_by_b.url) == ("node-a", "http://a")


async def test_a_new_conference_goes_to_the_least_loaded_live_node(store: Any) -> None:
    await store.home_heartbeat("node-b", "http://b", NOW, TTL)
    first = await store.claim_home("conf-1", "node-a", "http://a", NOW, TTL)
    second = await store.claim_home("conf-2", "node-a", "http://a", NOW, TTL)
    third = await store.claim_home("conf-3", "node-b", "http://b", NOW, TTL)
    # node-a asked twice: first itself (a tie), then node-b, which held none.
    assert [first.node, second.node] == ["node-a", "node-b"]
    assert third.node in ("node-a", "node-b")
    assert sorted(await store.home_heartbeat("node-b", "http://b", NOW, TTL)) in (
        ["conf-2"],
        ["conf-2", "conf-3"],
    )


async def test_a_lease_not_renewed_expires_and_another_node_takes_it(store: Any) -> None:
    await store.claim_home("conf-a", "node-a", "http://a", NOW, TTL)
    # node-a renews at NOW + 3; at NOW + 7 the lease (to NOW + 8) still stands.
    assert await store.home_heartbeat("node-a", "http://a", NOW + 3, TTL) == ["conf-a"]
    held = await store.claim_home("conf-a", "node-b", "http://b", NOW + 7, TTL)
    assert held.node == "node-a"
    # node-a stops renewing (SIGKILL): past NOW + 8 node-b is home.
    taken = await store.claim_home("conf-a", "node-b", "http://b", NOW + 8.5, TTL)
    assert (taken.node, taken.url, taken.expires_at) == ("node-b", "http://b", NOW + 8.5 + TTL)
    assert await store.home_heartbeat("node-a", "http://a", NOW + 9, TTL) == []


async def test_a_released_node_leaves_its_conferences_at_once(store: Any) -> None:
    await store.claim_home("conf-a", "node-a", "http://a", NOW, TTL)
    await store.release_homes("node-a")
    home = await store.claim_home("conf-a", "node-b", "http://b", NOW + 0.1, TTL)
    assert home.node == "node-b"


async def test_nodes_claiming_at_once_agree_on_one_home(store: Any) -> None:
    nodes = [f"node-{i}" for i in range(6)]
    homes = await asyncio.gather(
        *(store.claim_home("conf-race", n, f"http://{n}", NOW, TTL) for n in nodes)
    )
    assert len({h.node for h in homes}) == 1
