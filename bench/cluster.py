"""Three confsvc nodes, 300 WebSockets and 500 SSE readers (issue 12, "Figures").

    python bench/cluster.py [--participants 300] [--readers 500] [--actions 40]

Starts three ``confsvc serve`` processes (tests/integration/nodes.py) on free loopback
ports, sharing a PostgreSQL schema of their own (``--db``, default CONFSVC_TEST_POSTGRES,
dropped afterwards) and a redis-server of their own. A host on node A; the participants'
WebSockets on nodes B and C, half each; the public SSE readers on node C. Phase 1: every
participant asks one question at once (keyed), and the refusals are counted by code.
Phase 2: the host presses ``ros.extend`` ``--actions`` times, 250 ms apart; for each, the
time from sending it to the moment the last of the 800 clients has its ``ros`` message
(cross-node: the host's node is not theirs), and the time to the host's own ack. Clients only look for the action's ``seq`` in
the raw frames (no JSON decoding per message), so the bench's own loop costs little; it
shares the machine with the nodes all the same, so the figures are an upper bound. The
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import SECRET, own_schema  # noqa: E402
from tests.integration.nodes import CONFERENCE, Node  # noqa: E402
from tests.integration.test_bus_outage import RedisProcess, _free_port  # noqa: E402

SEQ = re.compile(rb'"seq":(\d+)')
DEFAULT_DB = os.environ.get("CONFSVC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Cluster:
    """Nodes, their Redis and a client session; ``watch`` records when each client first
    saw each seq of a ``ros`` message."""

    def __init__(self, nodes: list[Node], redis: RedisProcess) -> None:
        self.nodes = nodes
        self.redis = redis
        # No connector limit: each WebSocket holds one of its connections (the default: 100).
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        )
        self.arrivals: dict[int, list[float]] = {}  # seq -> when each client had it
        self.tasks: list[asyncio.Task[None]] = []

    def ws_url(self, node: Node) -> str:
        return f"ws://127.0.0.1:{node.port}/c/{CONFERENCE}/ws"

    async def ws(self, node: Node, token: str) -> aiohttp.ClientWebSocketResponse:
        sock = await self.session.ws_connect(self.ws_url(node), max_msg_size=0)
        await sock.send_json({"type": "hello", "token": token})
        while True:
            msg = await sock.receive(timeout=60)
            if msg.type is aiohttp.WSMsgType.TEXT and '"welcome"' in msg.data[:40]:
                return sock
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise SystemExit(f"no welcome from {node.name}: {msg}")

    def _arrived(self, frame: bytes) -> None:
        if b'"type":"ros"' not in frame[:20]:
            return
        found = SEQ.search(frame)
        if found:
            self.arrivals.setdefault(int(found.group(1)), []).append(time.perf_counter())

    def watch_ws(self, sock: aiohttp.ClientWebSocketResponse) -> None:
        async def read() -> None:
            async for msg in sock:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._arrived(msg.data.encode())

        self.tasks.append(asyncio.ensure_future(read()))

    async def sse(self, node: Node) -> None:
        resp = await self.session.get(f"{node.base}/c/{CONFERENCE}/live/events")
        assert resp.status == 200, resp.status

        async def read() -> None:
            async for line in resp.content:
                if line.startswith(b"data: "):
                    self._arrived(line[6:])

        self.tasks.append(asyncio.ensure_future(read()))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.session.close()


@asynccontextmanager
async def cluster(db: str, workdir: Path, nodes: int = 3) -> AsyncIterator[Cluster]:
    """Three nodes on a schema of their own and a redis-server of their own."""
    async with own_schema(db) as dsn:
        redis = RedisProcess(_free_port(), workdir)
        redis.start()
        extra = ("--redis", redis.url, "--log-level", "warning")
        running = [Node(workdir, n, db=dsn, secret=SECRET, extra=extra) for n in "abc"[:nodes]]
        try:
            for node in running:
                await asyncio.to_thread(node.start, 120.0)
            c = Cluster(running, redis)
            try:
                yield c
            finally:
                await c.close()
        finally:
            for node in running:
                node.stop()
            redis.kill()


async def command(
    sock: aiohttp.ClientWebSocketResponse, msg_id: int, name: str, key: str, **args: Any
) -> dict[str, Any]:
    await sock.send_json({"type": "command", "id": msg_id, "name": name, "args": args, "key": key})
    while True:
        msg = await sock.receive(timeout=120)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise SystemExit(f"the socket closed: {msg}")
        body = json.loads(msg.data)
        if body.get("id") == msg_id and body.get("type") in ("ack", "error"):
            return body


async def connect_all(coros: list[Any], size: int = 50) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(coros), size):
        out.extend(await asyncio.gather(*coros[i : i + size]))
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="confsvc-cluster-") as tmp:
        async with cluster(args.db, Path(tmp)) as c:
            a, b, d = c.nodes
            host = await c.ws(a, a.token("host"))
            reply = await command(host, 1, "ros.start", "start")
            assert reply["type"] == "ack", reply
            participants = await connect_all(
                [c.ws((b, d)[i % 2], a.token("participant")) for i in range(args.participants)]
            )
            await connect_all([c.sse(d) for _ in range(args.readers)])
            # Phase 1: every participant asks at once.
            started = time.perf_counter()
            replies = await asyncio.gather(
                *(
                    command(p, 1, "q.ask", f"ask-{i}", text=f"Question {i}")
                    for i, p in enumerate(participants)
                )
            )
            ask_s = time.perf_counter() - started
            refusals: dict[str, int] = {}
            for r in replies:
                if r["type"] != "ack":
                    refusals[r["code"]] = refusals.get(r["code"], 0) + 1
            for p in participants:
                c.watch_ws(p)
            await asyncio.sleep(2)
            # Phase 2: host actions; the time until the last client has each.
            clients = args.participants + args.readers
            latencies: list[float] = []
            acks: list[float] = []
            missing = 0
            for n in range(args.actions):
                sent = time.perf_counter()
                reply = await command(host, 100 + n, "ros.extend", f"x-{n}", minutes=1)
                if reply["type"] != "ack":
                    refusals[reply["code"]] = refusals.get(reply["code"], 0) + 1
                    continue
                acks.append((time.perf_counter() - sent) * 1000)
                seq = reply["seq"]
                for _ in range(200):  # up to 10 s
                    if len(c.arrivals.get(seq, ())) >= clients:
                        break
                    await asyncio.sleep(0.05)
                got = c.arrivals.get(seq, [])
                if len(got) < clients:
                    missing += clients - len(got)
                    continue
                latencies.append((max(got) - sent) * 1000)
                await asyncio.sleep(0.25)
            rss = {n.name: rss_kib(n.proc.pid) for n in c.nodes if n.proc is not None}
    return {
        "nodes": 3,
        "websockets": args.participants,
        "sse_readers": args.readers,
        "asks": len(replies),
        "ask_seconds": round(ask_s, 2),
        "refusals": refusals,
        "actions": len(latencies),
        "clients_missing_a_message": missing,
        "last_client_ms_p50": round(percentile(latencies, 50), 1) if latencies else None,
        "last_client_ms_p99": round(percentile(latencies, 99), 1) if latencies else None,
        "last_client_ms_max": round(max(latencies), 1) if latencies else None,
        "host_ack_ms_p50": round(percentile(acks, 50), 1) if acks else None,
        "node_rss_kib": rss,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--readers", type=int, default=500)
    parser.add_argument("--actions", type=int, default=40)
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL DSN (a schema is made)")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
