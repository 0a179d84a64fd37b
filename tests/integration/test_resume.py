"""Resuming: a client that reconnects with the last seq it saw gets exactly the messages
it missed (or a snapshot, and why, when too far behind); the live page's event stream
carries ``id:`` and honours ``Last-Event-ID`` (docs/protocol.md, "Resuming")."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import SAMPLE, Running, WsClient

# Whole views: of several in a row only the newest is sent (confsvc.backlog.coalesced).
WHOLE_VIEWS = {"ros", "q.live", "invites"}


async def resume_ws(node: Running, token: str, seq: int | None) -> WsClient:
    """A WebSocket whose hello asks to resume from ``seq``, past its welcome."""
    sock = await node.client.ws_connect(f"/c/{node.conference}/ws")
    hello: dict[str, Any] = {"type": "hello", "token": token}
    if seq is not None:
        hello["seq"] = seq
    await sock.send_json(hello)
    client = WsClient(sock)
    client.welcome = await client.expect("welcome")
    return client


async def messages_until(client: WsClient, seq: int) -> list[dict[str, Any]]:
    """Every message (the inbox first) up to the first that carries ``seq``."""
    out: list[dict[str, Any]] = []
    while True:
        msg = client.inbox.pop(0) if client.inbox else await client.recv()
        if msg.get("type") in ("ack", "pong"):
            continue
        out.append(msg)
        if msg.get("seq") == seq:
            return out


def coalesced(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What one catch-up sends of these: only the newest of each whole view."""
    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    for msg in reversed(messages):
        if msg["type"] in WHOLE_VIEWS:
            if msg["type"] in seen:
                continue
            seen.add(msg["type"])
        kept.append(msg)
    return kept[::-1]


async def ok(client: WsClient, name: str, **args: Any) -> dict[str, Any]:
    """The ack of a command that must be taken."""
    reply = await client.command(name, **args)
    assert reply["type"] == "ack", reply
    return reply


async def _traffic(host: WsClient, mod: WsClient, asker: WsClient) -> int:
    """Some of everything (run of show, questions, the moderator's steps); the last seq."""
    await ok(host, "ros.start")
    first = await ok(asker, "q.ask", text="What did the contact tracing cost?")
    await ok(asker, "q.ask", text="Who paid for the masks?")
    await ok(host, "ros.next")
    qid = first["ids"][0]
    await ok(mod, "q.approve", id=qid)
    return int((await ok(mod, "q.on_air", id=qid))["seq"])


async def test_a_reconnecting_moderator_gets_exactly_what_it_missed(running: Running) -> None:
    host, mod = await running.ws("host"), await running.ws("moderator")
    watcher = await running.ws("moderator")  # connected throughout: what was sent
    token = running.token("moderator")
    gone = await resume_ws(running, token, None)
    seen = gone.welcome["seq"]
    await gone.close()
    last = await _traffic(host, mod, await running.ws("participant"))
    sent = [m for m in await messages_until(watcher, last) if m["seq"] > seen]

    back = await resume_ws(running, token, seen)
    assert back.welcome["resumed"] is True
    assert "views" not in back.welcome
    assert back.welcome["seq"] == last
    replayed = [await back.recv() for _ in range(back.welcome["missed"])]
    assert replayed == coalesced(sent)
    assert {m["type"] for m in replayed} >= {"ros", "q.item", "q.live"}
    # ... and from there on, live as any other connection.
    ack = await host.command("ros.next")
    assert (await back.expect("ros"))["seq"] == ack["seq"]


async def test_a_participant_resumes_with_only_its_own_messages(running: Running) -> None:
    host, mod = await running.ws("host"), await running.ws("moderator")
    token = running.token("participant")
    asker = await resume_ws(running, token, None)
    seen = asker.welcome["seq"]
    await asker.close()
    other = await running.ws("participant")
    asked = await other.command("q.ask", text="A question by somebody else")
    await mod.command("q.note", id=asked["ids"][0], text="PRIVATE-NOTE")
    await host.command("ros.start")

    back = await resume_ws(running, token, seen)
    assert back.welcome["resumed"] is True
    replayed = [await back.recv() for _ in range(back.welcome["missed"])]
    kinds = {m["type"] for m in replayed}
    assert "ros" in kinds
    assert not kinds & {"q.item", "q.batch", "invites"}  # staff messages stay with staff
    assert "PRIVATE-NOTE" not in json.dumps(replayed)


async def test_too_far_behind_gets_a_snapshot_and_is_told_why(confsvc_app: Any) -> None:
    node = await confsvc_app(backlog_events=2)
    host = await node.ws("host")
    token = node.token("host")
    gone = await resume_ws(node, token, None)
    seen = gone.welcome["seq"]
    await gone.close()
    await host.command("ros.start")
    await host.command("ros.next")
    last = (await host.command("ros.next"))["seq"]

    back = await resume_ws(node, token, seen)
    assert back.welcome["resumed"] is False
    assert back.welcome["reason"] == (
        f"seq {seen} is too far behind: the server keeps the messages of the last 2 events "
        f"(the log is at {last})"
    )
    assert set(back.welcome["views"]) == set((await node.ws("host")).welcome["views"])
    assert back.welcome["views"]["ros"]["current"] == 2
    # Two events back is still within reach.
    near = await resume_ws(node, token, last - 2)
    assert near.welcome["resumed"] is True


async def test_a_seq_past_the_log_gets_a_snapshot(running: Running) -> None:
    client = await resume_ws(running, running.token("host"), 10**9)
    seq = client.welcome["seq"]
    assert client.welcome["resumed"] is False
    assert client.welcome["reason"] == f"seq {10**9} is past this conference's log (at {seq})"
    assert "ros" in client.welcome["views"]


async def test_a_bad_seq_in_hello_is_named(running: Running) -> None:
    for bad in ("12", -1, 1.5, True):
        sock = await running.client.ws_connect(f"/c/{running.conference}/ws")
        await sock.send_json({"type": "hello", "token": running.token("host"), "seq": bad})
        error = await sock.receive_json(timeout=10)
        assert (error["type"], error["field"]) == ("error", "seq")
        assert error["message"] == "seq must be a whole number, 0 or more"
        assert (await sock.receive(timeout=10)).type is aiohttp.WSMsgType.CLOSE
        assert sock.close_code == 1008


async def read_events(
    resp: aiohttp.ClientResponse, until: Any
) -> list[tuple[int | None, dict[str, Any]]]:
    """``(id, message)`` from an event stream until ``until(message)`` is true."""
    out: list[tuple[int | None, dict[str, Any]]] = []
    event_id: int | None = None
    while True:
        line = await asyncio.wait_for(resp.content.readline(), 10)
        assert line, f"the stream ended; saw {[m['type'] for _, m in out]}"
        if line.startswith(b"id: "):
            event_id = int(line[4:])
        elif line.startswith(b"data: "):
            msg = json.loads(line[6:])
            out.append((event_id, msg))
            event_id = None
            if until(msg):
                return out


async def test_the_event_stream_resumes_from_last_event_id(running: Running) -> None:
    host, mod = await running.ws("host"), await running.ws("moderator")
    url = f"/c/{running.conference}/live/events"
    watcher = await running.client.get(url)
    [(welcome_id, welcome)] = await read_events(watcher, lambda m: m["type"] == "welcome")
    assert welcome_id == welcome["seq"]
    gone = await running.client.get(url)
    await read_events(gone, lambda m: m["type"] == "welcome")
    gone.close()
    last = await _traffic(host, mod, await running.ws("participant"))
    sent = await read_events(watcher, lambda m: m["seq"] == last)
    assert all(event_id == m["seq"] for event_id, m in sent)

    back = await running.client.get(url, headers={"Last-Event-ID": str(welcome_id)})
    [(resumed_id, resumed)] = await read_events(back, lambda m: m["type"] == "welcome")
    assert (resumed_id, resumed["resumed"], resumed["seq"]) == (welcome_id, True, last)
    assert "views" not in resumed
    replayed = await read_events(back, lambda m: m["seq"] == last)
    assert len(replayed) == resumed["missed"]
    assert [m for _, m in replayed] == coalesced([m for _, m in sent])
    assert all(event_id == m["seq"] for event_id, m in replayed)
    for resp in (watcher, back):
        resp.close()


async def test_a_bad_last_event_id_is_named(running: Running) -> None:
    resp = await running.client.get(
        f"/c/{running.conference}/live/events", headers={"Last-Event-ID": "twelve"}
    )
    assert resp.status == 400
    body = await resp.json()
    assert body["message"] == "Last-Event-ID must be a seq: a whole number, 0 or more"


async def test_a_client_of_one_node_resumes_on_another(
    confsvc_app: Any, postgres_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    cid = f"resume-{secrets.token_hex(4)}"  # PostgreSQL is shared between runs
    agenda = tmp_path / "agenda.yaml"
    agenda.write_text(
        SAMPLE.read_text("utf-8").replace("id: weifang-olsztyn-2020", f"id: {cid}", 1), "utf-8"
    )
    node_a = await confsvc_app(agenda, db=postgres_dsn, redis=redis_url)
    node_b = await confsvc_app(agenda, db=postgres_dsn, redis=redis_url)
    watcher = await node_a.ws("moderator")
    token = node_a.token("moderator")
    gone = await resume_ws(node_a, token, None)
    seen = gone.welcome["seq"]
    await gone.close()  # node A went away, say: the page reconnects to node B
    host, mod = await node_a.ws("host"), await node_a.ws("moderator")
    last = await _traffic(host, mod, await node_a.ws("participant"))
    sent = [m for m in await messages_until(watcher, last) if m["seq"] > seen]

    hub_b = await node_b.hub()
    for _attempt in range(200):  # node B hears of it through Redis (or its poll)
        if hub_b.state.seq == last:
            break
        await asyncio.sleep(0.05)
    back = await resume_ws(node_b, token, seen)
    assert (back.welcome["resumed"], back.welcome["seq"]) == (True, last)
    replayed = [await back.recv() for _ in range(back.welcome["missed"])]
    assert replayed == coalesced(sent)
