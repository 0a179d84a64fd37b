"""``confsvc serve --workers 2``: two conferences' media in two worker processes.

Both workers listen on one port; each conference's lease goes to the worker holding
fewer, so the two conferences get one worker each, and a client of either conference,
whichever worker the kernel gives its socket to, receives that conference's sites.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from confsvc.media.bot import SiteBot, ViewerBot, parse_link
from tests.conftest import SECRET
from tests.integration.media_helpers import collect_garbage, until
from tests.integration.nodes import CONFERENCE, SITES, Node, free_ports_in_a_row, second_agenda

__all__ = ["collect_garbage"]

SECOND = "second-conference-2020"
LOOP = ["127.0.0.1"]


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Node]:
    # The workers take port + 1 and port + 2 too: find three free ports in a row.
    port = free_ports_in_a_row(3)
    extra = ("--agenda", str(second_agenda(tmp_path, SECOND)), "--workers", "2")
    node = Node(
        tmp_path, "workers", db=str(tmp_path / "confsvc.db"), secret=SECRET, extra=extra, port=port
    )
    try:
        node.start()
        for worker_port in (port + 1, port + 2):  # both workers, not only the first up
            Node(tmp_path, "probe", db="", secret=SECRET, port=worker_port).wait_ready()
        yield node
    finally:
        node.stop()


@pytest.fixture
async def bots() -> AsyncIterator[list[Any]]:
    started: list[Any] = []
    yield started
    await asyncio.gather(*(bot.close() for bot in started), return_exceptions=True)


def homes(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT h.conference, n.url FROM media_homes h JOIN media_nodes n USING (node)"
        ).fetchall()
    return dict(rows)


@pytest.mark.timeout(600)  # two workers and three site patterns on a shared machine
async def test_two_conferences_get_a_worker_each_and_both_are_seen(
    workers: Node, tmp_path: Path, bots: list[Any]
) -> None:
    first = [SiteBot(parse_link(workers.link("site", s)), ice_addresses=LOOP) for s in SITES[:1]]
    second = [
        SiteBot(parse_link(workers.link("site", s, conference=SECOND)), ice_addresses=LOOP)
        for s in SITES[:1]
    ]
    bots.extend([*first, *second])
    await asyncio.gather(*(b.start(kbps=300) for b in [*first, *second]))
    placed = homes(tmp_path / "confsvc.db")
    ports = {workers.port + 1, workers.port + 2}
    assert set(placed) == {CONFERENCE, SECOND}
    assert {int(url.rsplit(":", 1)[1]) for url in placed.values()} == ports  # one each

    viewers = [
        ViewerBot(parse_link(workers.link("participant", conference=c)), ice_addresses=LOOP)
        for c in (CONFERENCE, SECOND, CONFERENCE, SECOND)
    ]
    bots.extend(viewers)
    await asyncio.gather(*(v.start(sites=SITES[:1]) for v in viewers))
    await until(
        lambda: all(v.counts[SITES[0]].video_frames >= 30 for v in viewers),
        "every viewer, on whichever worker, to receive its conference's site",
        timeout=120,
    )
    assert all(v.counts[SITES[0]].keyframes >= 1 for v in viewers)
