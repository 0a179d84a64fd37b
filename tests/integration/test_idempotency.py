"""Idempotency keys: a command sent again with its key returns the first outcome and
stores nothing (docs/protocol.md, "Idempotency keys"; confsvc/core/idempotency.py)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from aiohttp import FormData

from confsvc.core.idempotency import KEY_FIELD
from tests.conftest import SAMPLE, Running, WsClient


async def keyed(client: WsClient, name: str, key: str, **args: Any) -> dict[str, Any]:
    """Send a command with an idempotency key; its ack or error."""
    client._id += 1
    my = client._id
    await client.sock.send_json(
        {"type": "command", "id": my, "name": name, "args": args, "key": key}
    )
    while True:
        msg = await client.recv()
        if msg.get("id") == my and msg.get("type") in ("ack", "error"):
            return msg
        client.inbox.append(msg)


def _without_id(msg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != "id"}


async def _asked(node: Running) -> list[str]:
    hub = await node.hub()
    await hub.catch_up()
    events = await hub.store.read(hub.id)
    return [e.data["id"] for e in events if e.type == "q.asked"]


async def test_same_key_twice_stores_one_question_and_acks_the_same(running: Running) -> None:
    alice = await running.ws("participant")
    first = await keyed(alice, "q.ask", "ask-1", text="How do you trace contacts?")
    again = await keyed(alice, "q.ask", "ask-1", text="How do you trace contacts?")
    assert first["type"] == "ack", first
    assert first["ids"] == ["q-1"]
    assert _without_id(again) == _without_id(first)
    assert await _asked(running) == ["q-1"]
    # The key is stored with the event it produced.
    hub = await running.hub()
    (asked,) = [e for e in await hub.store.read(hub.id) if e.type == "q.asked"]
    assert asked.data[KEY_FIELD] == {"key": "ask-1", "command": "q.ask"}


async def test_same_key_after_a_reconnect_returns_the_first_ack(running: Running) -> None:
    token = running.token("participant")
    alice = await running.ws(None, token=token)
    first = await keyed(alice, "q.ask", "k-reconnect", text="Before the drop")
    await alice.close()
    person = alice.welcome["you"]["person_token"]  # the same person on the shared link
    alice_again = await running.ws(None, token=token, person=person)
    again = await keyed(alice_again, "q.ask", "k-reconnect", text="Before the drop")
    assert _without_id(again) == _without_id(first)
    assert await _asked(running) == ["q-1"]


async def test_different_keys_and_other_links_are_other_commands(running: Running) -> None:
    alice = await running.ws("participant")
    bob = await running.ws("participant")
    a = await keyed(alice, "q.ask", "same", text="Alice asks")
    b = await keyed(bob, "q.ask", "same", text="Bob asks")  # another link's key
    c = await keyed(alice, "q.ask", "other", text="Alice asks again")
    assert (a["ids"], b["ids"], c["ids"]) == (["q-1"], ["q-2"], ["q-3"])
    assert await _asked(running) == ["q-1", "q-2", "q-3"]


async def test_a_key_reused_for_another_command_is_refused(running: Running) -> None:
    alice = await running.ws("participant")
    assert (await keyed(alice, "q.ask", "k", text="first"))["type"] == "ack"
    reused = await keyed(alice, "q.vote", "k", id="q-1")
    assert (reused["type"], reused["code"], reused["field"]) == ("error", "bad_request", "key")
    assert reused["message"] == "key 'k' was already used for 'q.ask', not 'q.vote'"


async def test_a_bad_key_names_the_field(running: Running) -> None:
    alice = await running.ws("participant")
    for bad in ("", "x" * 65, 7, "a\nb"):
        reply = await keyed(alice, "q.ask", bad, text="never stored")  # type: ignore[arg-type]
        assert (reply["type"], reply["code"], reply["field"]) == ("error", "bad_request", "key")
    assert await _asked(running) == []


async def test_a_refused_command_is_decided_again_when_resent(running: Running) -> None:
    host = await running.ws("host")
    early = await keyed(host, "ros.next", "next-1")
    assert (early["type"], early["code"]) == ("error", "invalid_state")
    assert (await host.command("ros.start"))["type"] == "ack"
    later = await keyed(host, "ros.next", "next-1")
    assert (later["type"], later["events"]) == ("ack", ["ros.moved"])


async def _two_nodes(confsvc_app: Any, tmp_path: Path, **settings: Any) -> tuple[Running, Running]:
    cid = f"idem-{secrets.token_hex(4)}"
    agenda_path = tmp_path / "agenda.yaml"
    agenda_path.write_text(
        SAMPLE.read_text("utf-8").replace("id: weifang-olsztyn-2020", f"id: {cid}", 1), "utf-8"
    )
    node_a = await confsvc_app(agenda_path, **settings)
    node_b = await confsvc_app(agenda_path, **settings)
    return node_a, node_b


async def _same_key_on_two_nodes(node_a: Running, node_b: Running) -> None:
    token = node_a.token("participant")
    on_a = await node_a.ws(None, token=token)
    person = on_a.welcome["you"]["person_token"]  # signed with the secret both nodes share
    on_b = await node_b.ws(None, token=token, person=person)  # B's hub loaded before the ask
    first = await keyed(on_a, "q.ask", "across", text="Asked on A, re-sent to B")
    # Node B has not folded A's event: it loses the append race, catches up, finds the key.
    again = await keyed(on_b, "q.ask", "across", text="Asked on A, re-sent to B")
    assert first["type"] == "ack", first
    assert _without_id(again) == _without_id(first)
    assert await _asked(node_a) == await _asked(node_b) == first["ids"]
    # A node started after the ask folds the key from the log.


async def test_same_key_on_two_nodes_sharing_one_sqlite_file(
    confsvc_app: Any, tmp_path: Path
) -> None:
    node_a, node_b = await _two_nodes(confsvc_app, tmp_path)
    await _same_key_on_two_nodes(node_a, node_b)


async def test_same_key_on_two_nodes_sharing_postgresql(
    confsvc_app: Any, postgres_dsn: str, tmp_path: Path
) -> None:
    node_a, node_b = await _two_nodes(confsvc_app, tmp_path, db=postgres_dsn)
    await _same_key_on_two_nodes(node_a, node_b)


async def test_a_node_started_later_knows_the_key_from_the_log(
    confsvc_app: Any, tmp_path: Path
) -> None:
    first_node = await confsvc_app()
    token = first_node.token("participant")
    alice = await first_node.ws(None, token=token)
    first = await keyed(alice, "q.ask", "restart", text="Asked before the restart")
    restarted = await confsvc_app()  # same SQLite file, folds the log from the start
    person = alice.welcome["you"]["person_token"]
    alice_again = await restarted.ws(None, token=token, person=person)
    again = await keyed(alice_again, "q.ask", "restart", text="Asked before the restart")
    assert _without_id(again) == _without_id(first)
    assert await _asked(restarted) == ["q-1"]


async def test_http_post_with_the_same_idempotency_key_stores_one_post(running: Running) -> None:
    token = running.token("host")

    async def post() -> Any:
        form = FormData(default_to_multipart=True)
        form.add_field("token", token)
        form.add_field("text", "Weifang answers now")
        resp = await running.client.post(
            f"/c/{running.conference}/posts", data=form, headers={"Idempotency-Key": "post-1"}
        )
        return resp.status, await resp.json()

    assert await post() == (200, {"id": "p-1"})
    assert await post() == (200, {"id": "p-1"})
    hub = await running.hub()
    posts = [e for e in await hub.store.read(hub.id) if e.type == "post.published"]
    assert len(posts) == 1


async def test_the_key_stays_out_of_views_and_exports(running: Running) -> None:
    alice = await running.ws("participant")
    mod = await running.ws("moderator")
    assert (await keyed(alice, "q.ask", "secret-ish", text="Where do keys go?"))["type"] == "ack"
    assert (await keyed(mod, "q.approve", "approve-1", id="q-1"))["type"] == "ack"
    exported = await running.client.get(
        f"/c/{running.conference}/questions/export.json", params={"token": running.token("host")}
    )
    text = await exported.text()
    assert "Where do keys go?" in text  # there is a question that could carry the key
    assert KEY_FIELD not in text and "secret-ish" not in text and "approve-1" not in text
