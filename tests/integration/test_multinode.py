"""Two confsvc nodes on one PostgreSQL store and one Redis bus serve the same conference."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from confsvc.core.agenda import parse_agenda
from tests.conftest import SAMPLE


async def test_command_on_one_node_reaches_a_console_on_the_other(
    confsvc_app: Any, postgres_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    # A conference id of its own, since PostgreSQL is shared between runs.
    cid = f"multi-{secrets.token_hex(4)}"
    agenda_path = tmp_path / "agenda.yaml"
    agenda_path.write_text(
        SAMPLE.read_text("utf-8").replace("id: weifang-olsztyn-2020", f"id: {cid}", 1), "utf-8"
    )
    assert parse_agenda(agenda_path.read_bytes()).conference.id == cid
    node_a = await confsvc_app(agenda_path, db=postgres_dsn, redis=redis_url)
    node_b = await confsvc_app(agenda_path, db=postgres_dsn, redis=redis_url)
    host_a = await node_a.ws("host")
    watcher_b = await node_b.ws("moderator")
    assert (await host_a.command("ros.start"))["type"] == "ack"
    assert (await watcher_b.expect("ros"))["ros"]["status"] == "running"
    # Both nodes race for the next command: the log never forks.
    host_b = await node_b.ws("host")
    first = await host_b.command("ros.next")
    second = await host_a.command("ros.next")
    assert (first["type"], second["type"]) == ("ack", "ack")
    hub_a, hub_b = await node_a.hub(), await node_b.hub()
    await hub_a.catch_up()
    await hub_b.catch_up()
    assert hub_a.state.seq == hub_b.state.seq
    assert hub_a.state.parts["ros"].current == hub_b.state.parts["ros"].current == 2
