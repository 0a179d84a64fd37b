"""Commands carry what the actor saw: a run-of-show or floor command the item
(``at_item``), a question transition the status (``from_status``); a command decided on
a state that has moved since is refused as ``stale``, saying what changed."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from tests.conftest import SAMPLE, Running, WsClient

OPENING = "opening-warsaw"
SECOND_TITLE = "Opening remarks by the deputy director, Shandong provincial foreign affairs office"


async def _started(node: Running) -> tuple[WsClient, WsClient]:
    one, two = await node.ws("host"), await node.ws("host")
    assert (await one.command("ros.start"))["type"] == "ack"
    return one, two


def _outcomes(replies: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return sorted((r["type"], r.get("message")) for r in replies)


async def test_two_hosts_pressing_next_together_move_one_item(running: Running) -> None:
    one, two = await _started(running)
    replies = await asyncio.gather(
        one.command("ros.next", at_item=OPENING), two.command("ros.next", at_item=OPENING)
    )
    assert _outcomes(list(replies)) == [
        ("ack", None),
        ("error", f"ros.next: already moved to {SECOND_TITLE!r} by the host"),
    ]
    (refused,) = [r for r in replies if r["type"] == "error"]
    assert refused["code"] == "stale"
    hub = await running.hub()
    assert hub.state.parts["ros"].current == 1


async def test_two_hosts_on_two_nodes_pressing_next_move_one_item(
    confsvc_app: Any, tmp_path: Path
) -> None:
    cid = f"intent-{secrets.token_hex(4)}"
    agenda_path = tmp_path / "agenda.yaml"
    agenda_path.write_text(
        SAMPLE.read_text("utf-8").replace("id: weifang-olsztyn-2020", f"id: {cid}", 1), "utf-8"
    )
    node_a = await confsvc_app(agenda_path)
    node_b = await confsvc_app(agenda_path)
    on_a, on_b = await node_a.ws("host"), await node_b.ws("host")
    assert (await on_a.command("ros.start"))["type"] == "ack"
    replies = await asyncio.gather(
        on_a.command("ros.next", at_item=OPENING), on_b.command("ros.next", at_item=OPENING)
    )
    assert [r["type"] for r in sorted(replies, key=lambda r: r["type"])] == ["ack", "error"]
    (refused,) = [r for r in replies if r["type"] == "error"]
    assert (refused["code"], refused["message"]) == (
        "stale",
        f"ros.next: already moved to {SECOND_TITLE!r} by the host",
    )
    hub_b = await node_b.hub()
    await hub_b.catch_up()
    assert hub_b.state.parts["ros"].current == 1


async def test_without_at_item_an_old_client_still_moves(running: Running) -> None:
    one, two = await _started(running)
    assert (await one.command("ros.next"))["type"] == "ack"
    assert (await two.command("ros.next"))["type"] == "ack"
    assert (await running.hub()).state.parts["ros"].current == 2


async def test_stale_floor_and_clock_commands_name_the_current_item(running: Running) -> None:
    one, two = await _started(running)
    assert (await one.command("ros.next", at_item=OPENING))["type"] == "ack"
    for name, args in (
        ("floor.give", {"sites": ["weifang"]}),
        ("floor.clear", {}),
        ("ros.extend", {"minutes": 5}),
        ("ros.pause", {}),
        ("ros.jump", {"item": "opening-weifang"}),
    ):
        reply = await two.command(name, at_item=OPENING, **args)
        assert (reply["code"], reply["message"]) == (
            "stale",
            f"{name}: already moved to {SECOND_TITLE!r} by the host",
        ), name
    assert (await two.command("ros.end", at_item="opening-olsztyn"))["type"] == "ack"
    late = await one.command("ros.previous", at_item="opening-olsztyn")
    assert (late["code"], late["message"]) == (
        "stale",
        "ros.previous: the conference was already ended by the host",
    )


async def test_a_question_moved_since_it_was_seen_is_stale(running: Running) -> None:
    alice = await running.ws("participant")
    mod_a, mod_b = await running.ws("moderator"), await running.ws("moderator")
    assert (await alice.command("q.ask", text="Who decides?"))["type"] == "ack"
    assert (await mod_a.command("q.approve", id="q-1", from_status="pending"))["type"] == "ack"
    late = await mod_b.command("q.reject", id="q-1", from_status="pending", reason="dup")
    assert (late["code"], late["message"]) == (
        "stale",
        "q.reject: q-1 is already approved by the moderator; you saw it pending",
    )
    assert (await mod_b.command("q.on_air", id="q-1", from_status="approved"))["type"] == "ack"
