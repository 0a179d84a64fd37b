"""Drill: a conference's media home dies (SIGKILL); another node takes the lease and
every site and viewer reconnects by itself and decodes frames again.

Two ``confsvc serve`` nodes share a PostgreSQL schema and the signing secret. Node A is
made the home (the first node asked); the three site bots and the viewer bots hold their
WebSockets on node B, which forwards their signalling to A (a viewer on a node that is
not the home gets every site: the fault this fixes). Then A is killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from confsvc.media.bot import SiteBot, ViewerBot, parse_link
from confsvc.media.forward import HOME_LOST_STATE
from tests.conftest import SECRET
from tests.integration.media_helpers import collect_garbage, until
from tests.integration.nodes import CONFERENCE, SITES, Node

__all__ = ["collect_garbage"]

LEASE_S = "3"
LOOP = ["127.0.0.1"]


async def home_in_store(dsn: str) -> tuple[str, str] | None:
    """(node, url) of the conference's lease, as the store holds it."""
    base, _, schema = dsn.partition("?search_path=")
    con = await asyncpg.connect(base, server_settings={"search_path": schema})
    try:
        row = await con.fetchrow(
            "SELECT h.node, n.url FROM media_homes h JOIN media_nodes n USING (node) "
            "WHERE h.conference = $1",
            CONFERENCE,
        )
    finally:
        await con.close()
    return (row[0], row[1]) if row is not None else None


@pytest.fixture
def two_nodes(tmp_path: Path, postgres_schema: str) -> Iterator[tuple[Node, Node]]:
    extra = ("--media-lease", LEASE_S)
    a = Node(tmp_path, "a", db=postgres_schema, secret=SECRET, extra=extra)
    b = Node(tmp_path, "b", db=postgres_schema, secret=SECRET, extra=extra)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.kill()
        b.stop()


@pytest.fixture
async def bots() -> AsyncIterator[list[Any]]:
    started: list[Any] = []
    yield started
    await asyncio.gather(*(bot.close() for bot in started), return_exceptions=True)


def decoded(viewer: ViewerBot) -> dict[str, int]:
    """Frames decoded per site (a viewer that does not decode: frames received whole)."""
    return {
        site: c.decoded_frames if viewer.decode else c.video_frames
        for site, c in viewer.counts.items()
    }


@pytest.mark.timeout(600)  # node and pattern start-up on a machine shared by several runs
async def test_sigkill_of_the_media_home_moves_it_and_every_viewer_decodes_again(
    two_nodes: tuple[Node, Node], postgres_schema: str, bots: list[Any]
) -> None:
    a, b = two_nodes
    # The first node asked for the conference's media becomes its home: A.
    primer = ViewerBot(parse_link(a.link("participant")), ice_addresses=LOOP)
    bots.append(primer)
    await primer.start()
    await primer.close()
    home = await home_in_store(postgres_schema)
    assert home is not None and home[1] == a.base

    sites = [
        SiteBot(parse_link(b.link("site", site)), ice_addresses=LOOP, reconnect=True)
        for site in SITES
    ]
    bots.extend(sites)
    await asyncio.gather(*(site_bot.start(kbps=300) for site_bot in sites))
    # One viewer decodes every frame (what a browser shows); the other counts whole frames.
    viewers = [
        ViewerBot(parse_link(b.link("participant")), ice_addresses=LOOP, decode=d, reconnect=True)
        for d in (True, False)
    ]
    bots.extend(viewers)
    await asyncio.gather(*(v.start() for v in viewers))
    # Through node B, from home A: every viewer decodes every site.
    await until(
        lambda: all(n >= 10 for v in viewers for n in decoded(v).values()),
        "viewers on the node that is not the home to decode every site",
        timeout=60,
    )
    assert all(v.counts[s].decode_errors == 0 for v in viewers for s in SITES)

    a.kill()
    before = [decoded(v) for v in viewers]
    await until(
        lambda: all(
            decoded(v)[site] >= before[i][site] + 10
            for i, v in enumerate(viewers)
            for site in SITES
        ),
        "every viewer to decode every site again after the home was killed",
        timeout=60,
    )
    home = await home_in_store(postgres_schema)
    assert home is not None and home[1] == b.base  # B took the lease
    for bot in [*viewers, *sites]:
        assert bot.reconnects >= 1
        told = [m for m in bot.messages if m.get("type") == "rtc.state"]
        assert HOME_LOST_STATE in told
    assert all(v.counts[s].decode_errors == 0 for v in viewers for s in SITES)
