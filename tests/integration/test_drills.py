"""Drills on three ``confsvc serve`` node processes sharing a PostgreSQL schema, a Redis
of the test's own and the signing secret: 300 asks at once across the nodes, a node
killed (SIGKILL) mid-traffic, Redis killed, PostgreSQL blocked, two hosts pressing next
on two nodes. Each asserts that nothing acknowledged is lost, nothing is stored twice,
and every node's clients converge on the store's log (docs/operations.md, "Drills").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from confsvc.store import open_store
from tests.conftest import SECRET, WsClient
from tests.integration.nodes import CONFERENCE, Node
from tests.integration.test_bus_outage import REDIS_SERVER, RedisProcess, _free_port
from tests.integration.test_idempotency import keyed
from tests.integration.test_store_outage import Proxy

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


class Cluster:
    """The nodes, the Redis they share, and WebSocket clients of any node."""

    def __init__(self, nodes: list[Node], redis: RedisProcess, db: str) -> None:
        self.nodes = nodes
        self.redis = redis
        self.db = db
        # No connector limit: each WebSocket holds one of its connections (the default: 100).
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.watchers: list[Watcher] = []

    async def watch(self, node: Node) -> Watcher:
        """A moderator on ``node`` connected from now to the end of the drill."""
        watcher = Watcher(await self.ws(node, node.token("moderator")))
        self.watchers.append(watcher)
        return watcher

    async def ws(
        self, node: Node, token: str, seq: int | None = None, person: str | None = None
    ) -> WsClient:
        """A client past its welcome; ``seq``: resume from it; ``person``: the person token
        of an earlier welcome (a page keeps it: on a shared audience link it is who asks)."""
        sock = await self.session.ws_connect(f"ws://127.0.0.1:{node.port}/c/{CONFERENCE}/ws")
        hello: dict[str, Any] = {"type": "hello", "token": token}
        if seq is not None:
            hello["seq"] = seq
        if person is not None:
            hello["person"] = person
        await sock.send_json(hello)
        client = WsClient(sock)
        client.welcome = await client.expect("welcome", timeout=30)
        return client

    async def asked(self) -> list[dict[str, Any]]:
        """Every question the store holds, in the log's order."""
        store = await open_store(self.db)
        try:
            return [e.data for e in await store.read(CONFERENCE) if e.type == "q.asked"]
        finally:
            await store.close()

    async def snapshot_ids(self, node: Node) -> set[str]:
        """The question ids a moderator connecting to ``node`` now is shown."""
        client = await self.ws(node, node.token("moderator"))
        try:
            return {q["id"] for q in client.welcome["views"]["questions"]["items"]}
        finally:
            await client.close()


def _nodes(tmp_path: Path, db: str, redis: RedisProcess, count: int = 3) -> list[Node]:
    extra = ("--redis", redis.url, "--log-level", "warning")
    return [Node(tmp_path, name, db=db, secret=SECRET, extra=extra) for name in "abc"[:count]]


@contextlib.asynccontextmanager
async def cluster_on(tmp_path: Path, db: str, count: int = 3) -> AsyncIterator[Cluster]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    redis = RedisProcess(_free_port(), tmp_path)
    redis.start()
    nodes = _nodes(tmp_path, db, redis, count)
    cluster = Cluster(nodes, redis, db)
    try:
        for node in nodes:
            await asyncio.to_thread(node.start, 240.0)  # a machine shared by several runs
        yield cluster
    finally:
        for watcher in cluster.watchers:
            watcher.task.cancel()
        await asyncio.gather(*(w.task for w in cluster.watchers), return_exceptions=True)
        await cluster.session.close()
        for node in nodes:
            node.kill()
        redis.kill()


@pytest.fixture
async def cluster(tmp_path: Path, postgres_schema: str) -> AsyncIterator[Cluster]:
    async with cluster_on(tmp_path, postgres_schema) as running:
        yield running


class Watcher:
    """A client connected throughout: read all along (so it answers the server's
    heartbeat however long the drill), keeping the ids of the ``q.item`` messages."""

    def __init__(self, client: WsClient) -> None:
        self.client = client
        self.items: set[str] = set()
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            msg = await self.client.recv(timeout=3600)
            if msg.get("type") == "q.item":
                self.items.add(msg["item"]["id"])

    async def until_seen(self, ids: set[str]) -> None:
        """Until it has been sent a ``q.item`` for every one of ``ids`` (60 s at most)."""
        for _attempt in range(1200):
            if ids <= self.items:
                return
            if self.task.done():
                self.task.result()  # the reason it stopped
            await asyncio.sleep(0.05)
        raise AssertionError(f"never sent {sorted(ids - self.items)[:5]}...")


async def ask(client: WsClient, key: str, text: str) -> dict[str, Any]:
    """``q.ask`` with its key; the ack or error, however long a saturated store takes."""
    client._id += 1
    my = client._id
    await client.sock.send_json(
        {"type": "command", "id": my, "name": "q.ask", "args": {"text": text}, "key": key}
    )
    while True:
        msg = await client.recv(timeout=120)
        if msg.get("id") == my and msg.get("type") in ("ack", "error"):
            return msg
        client.inbox.append(msg)


async def gather_in_batches(coros: list[Any], size: int = 50) -> list[Any]:
    """Run ``coros`` ``size`` at a time (connecting 300 clients at once is a test of the
    listen backlog, not of the nodes)."""
    out: list[Any] = []
    for i in range(0, len(coros), size):
        out.extend(await asyncio.gather(*coros[i : i + size]))
    return out


async def test_300_participants_asking_at_once_over_three_nodes_lose_none(
    cluster: Cluster,
) -> None:
    watchers = [await cluster.watch(n) for n in cluster.nodes]
    askers = await gather_in_batches(
        [
            cluster.ws(cluster.nodes[i % 3], cluster.nodes[0].token("participant"))
            for i in range(300)
        ]
    )
    replies = await asyncio.gather(
        *(
            ask(asker, f"ask-{i}", f"Question {i} from node {'abc'[i % 3]}")
            for i, asker in enumerate(askers)
        )
    )
    refused = [r for r in replies if r["type"] != "ack"]
    assert refused == []
    ids = {r["ids"][0] for r in replies}
    assert len(ids) == 300
    stored = await cluster.asked()
    assert sorted(q["text"] for q in stored) == sorted(
        f"Question {i} from node {'abc'[i % 3]}" for i in range(300)
    )
    for node, watcher in zip(cluster.nodes, watchers, strict=True):
        await watcher.until_seen(ids)
        assert await cluster.snapshot_ids(node) == ids


async def _asking(
    cluster: Cluster, token: str, first: Node, then: Node, n: int, who: int
) -> list[str]:
    """A page asking ``n`` questions, one after the other, each with its key: when its
    node dies it reconnects to ``then``, resumes from its seq and sends the unacknowledged
    question again with the same key, as conn.js does. The ids it was acknowledged."""
    client = await cluster.ws(first, token)
    person = client.welcome["you"]["person_token"]  # a new person on reconnecting without
    acked: list[str] = []
    for q in range(n):
        key = f"k-{who}-{q}"
        while True:
            try:
                reply = await keyed(client, "q.ask", key, text=f"asker {who} question {q}")
                break
            except (TimeoutError, aiohttp.ClientError, TypeError, ConnectionError):
                seq = max([client.welcome["seq"], *(m.get("seq", 0) for m in client.seen)])
                with contextlib.suppress(Exception):
                    await client.close()
                client = await cluster.ws(then, token, seq=seq, person=person)
                assert client.welcome["resumed"] is True, client.welcome
        assert reply["type"] == "ack", reply
        acked.append(reply["ids"][0])
        await asyncio.sleep(0.02)
    await client.close()
    return acked


async def test_sigkill_of_a_node_mid_traffic_loses_and_doubles_nothing(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    watchers = [await cluster.watch(n) for n in (a, c)]
    tokens = [a.token("participant") for _ in range(30)]
    pages = [
        asyncio.ensure_future(_asking(cluster, t, b, c, 5, who)) for who, t in enumerate(tokens)
    ]
    # Kill node B once it has taken some of the questions, none of the pages knowing when.
    for _attempt in range(600):
        if len(await cluster.asked()) >= 40:
            break
        await asyncio.sleep(0.05)
    b.kill()
    acked = [qid for page in await asyncio.gather(*pages) for qid in page]
    stored = await cluster.asked()
    texts = [q["text"] for q in stored]
    assert len(texts) == len(set(texts)) == 150  # every question once: none lost, none twice
    assert sorted(acked) == sorted(q["id"] for q in stored)
    for node, watcher in zip((a, c), watchers, strict=True):
        await watcher.until_seen(set(acked))
        assert await cluster.snapshot_ids(node) == set(acked)


async def test_redis_killed_mid_traffic_then_back_loses_nothing(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    watcher = await cluster.watch(c)
    ids: set[str] = set()

    async def ask(phase: str) -> None:  # two askers a phase: five a minute is the limit
        for i in range(10):
            if i % 5 == 0:
                asker = await cluster.ws(b, a.token("participant"))
            reply = await keyed(asker, "q.ask", f"{phase}-{i}", text=f"{phase} {i}")
            assert reply["type"] == "ack", reply
            ids.add(reply["ids"][0])

    await ask("before")
    cluster.redis.kill()
    await ask("during")  # acknowledged while Redis is down; node C hears by its poll
    await watcher.until_seen(ids)
    cluster.redis.start()
    for _attempt in range(100):
        if all([await asyncio.to_thread(n.ready) for n in cluster.nodes]):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("a node never subscribed to Redis again")
    await ask("after")
    await watcher.until_seen(ids)
    assert len(await cluster.asked()) == len(ids) == 30
    for node in cluster.nodes:
        assert await cluster.snapshot_ids(node) == ids


@pytest.fixture
async def proxied_db(postgres_schema: str) -> AsyncIterator[tuple[Proxy, str]]:
    """A proxy of the test's own in front of PostgreSQL, and the schema's DSN through it."""
    parts = urlsplit(postgres_schema)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    user = f"{parts.username}@" if parts.username else ""
    try:
        yield proxy, urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.listen_port}"))
    finally:
        await proxy.close()


async def test_postgresql_blocked_then_back_stores_each_question_once(
    tmp_path: Path, proxied_db: tuple[Proxy, str]
) -> None:
    proxy, dsn = proxied_db
    async with cluster_on(tmp_path, dsn, count=2) as cluster:
        a, b = cluster.nodes
        asker = await cluster.ws(a, a.token("participant"))
        watcher = await cluster.watch(b)
        first = await keyed(asker, "q.ask", "before", text="asked before the outage")
        proxy.pause()  # PostgreSQL stops answering: nothing is refused, nothing comes back
        refused = await keyed(asker, "q.ask", "during", text="asked during the outage")
        assert (refused["type"], refused["code"]) == ("error", "unavailable")
        assert refused["retry_after"] > 0
        proxy.resume()
        for _attempt in range(100):  # sent again with its key after retry_after, as pages do
            reply = await keyed(asker, "q.ask", "during", text="asked during the outage")
            if reply["type"] == "ack":
                break
            assert reply["code"] == "unavailable", reply
            await asyncio.sleep(0.2)
        again = await keyed(asker, "q.ask", "during", text="asked during the outage")
        assert again["ids"] == reply["ids"]  # the same key once more: the same question
        ids = {first["ids"][0], reply["ids"][0]}
        await watcher.until_seen(ids)
        assert [q["text"] for q in await cluster.asked()] == [
            "asked before the outage",
            "asked during the outage",
        ]
        for node in cluster.nodes:
            assert await cluster.snapshot_ids(node) == ids


async def test_two_hosts_pressing_next_on_two_nodes_move_one_item(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    host_a, host_b = await cluster.ws(a, a.token("host")), await cluster.ws(b, b.token("host"))
    watcher = await cluster.ws(c, c.token("moderator"))
    assert (await host_a.command("ros.start"))["type"] == "ack"
    for step in range(1, 4):
        seen = await host_a.expect("ros")
        while seen["ros"]["current"] != step - 1:
            seen = await host_a.expect("ros")
        item = seen["ros"]["items"][step - 1]["id"]
        first, second = await asyncio.gather(
            host_a.command("ros.next", at_item=item), host_b.command("ros.next", at_item=item)
        )
        assert sorted([first["type"], second["type"]]) == ["ack", "error"]
        lost = first if first["type"] == "error" else second
        assert lost["code"] == "stale"
        assert lost["message"].startswith("ros.next: already moved to ")
        ros = await watcher.expect("ros")
        while ros["ros"]["current"] != step:
            assert ros["ros"]["current"] < step, "the agenda jumped past one item"
            ros = await watcher.expect("ros")
    for node in cluster.nodes:
        client = await cluster.ws(node, node.token("host"))
        assert client.welcome["views"]["ros"]["current"] == 3
        await client.close()
