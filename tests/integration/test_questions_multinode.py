"""Two nodes on one PostgreSQL store and one Redis bus: a question put on air through
one node reaches a participant and a public-page reader on the other; two moderators on
different nodes racing the same action never both win."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_on_air_through_one_node_reaches_the_other(
    confsvc_app: Any, postgres_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    cid = f"q-multi-{secrets.token_hex(4)}"  # PostgreSQL is shared between runs
    agenda_path = tmp_path / "agenda.yaml"
    agenda_path.write_text(
        SAMPLE.read_text("utf-8").replace("id: weifang-olsztyn-2020", f"id: {cid}", 1), "utf-8"
    )
    node_a = await confsvc_app(agenda_path, db=postgres_dsn, redis=redis_url)
    node_b = await confsvc_app(agenda_path, db=postgres_dsn, redis=redis_url)
    asker_b = await node_b.ws("participant")
    sse_b = await node_b.client.get(f"/c/{cid}/live/events")
    line = b""
    while not line.startswith(b"data: "):
        line = await asyncio.wait_for(sse_b.content.readline(), 10)
    assert json.loads(line[6:])["type"] == "welcome"
    await asker_b.command("q.ask", text="Asked on node B")
    mod_a = await node_a.ws("moderator")
    mod_b = await node_b.ws("moderator")
    await (await node_a.hub()).catch_up()
    first, second = await asyncio.gather(
        mod_a.command("q.approve", id="q-1"), mod_b.command("q.approve", id="q-1")
    )
    assert sorted([first["type"], second["type"]]) == ["ack", "error"]
    assert (await mod_a.command("q.on_air", id="q-1"))["type"] == "ack"
    while True:
        line = await asyncio.wait_for(sse_b.content.readline(), 10)
        if line.startswith(b'data: {"type":"q.live"'):
            break
    assert json.loads(line[6:])["on_air"]["text"] == "Asked on node B"
    mine = await asker_b.expect("q.mine")
    while mine["item"]["status"] != "on_air":
        mine = await asker_b.expect("q.mine")
    sse_b.close()
