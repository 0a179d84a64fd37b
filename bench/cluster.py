"""Three confsvc nodes, 300 WebSockets and 500 SSE readers (issue 12, "Figures").

    python bench/cluster.py [--participants 300] [--readers 500] [--actions 40]

Starts three ``confsvc serve`` processes (tests/integration/nodes.py) on free loopback
ports, sharing a PostgreSQL schema of their own (``--db``, default CONFSVC_TEST_POSTGRES,
dropped afterwards) and a redis-server of their own. A host on node A; the participants'
WebSockets on nodes B and C, half each; the public SSE readers on node C. Node C is
started with ``--connection-cap-exempt 127.0.0.1``: its 500 readers all come from one
address and carry no token, past the per-address cap (256) meant for the Internet.

Phase 1: every participant asks one question at once (keyed), and the refusals are counted
by code. Phase 2: the host presses ``ros.extend`` ``--actions`` times, 250 ms apart; for
each, the time from sending it to the moment the last of the 800 clients has its ``ros``
message (cross-node: the host's node is not theirs), the host's own ack, and where the
time goes: the first and the last client of node B, of node C's WebSockets and of its
SSE readers.

The clients are cheap so that they measure the nodes, not themselves: one child process
per client node (``--child``; B's, and C's), each with bare asyncio protocols (a minimal
WebSocket client: handshake, masked text frames out, pong for ping; SSE read off the
socket) that find a ``ros`` message and its seq in the raw bytes, no JSON decoding per
message. Arrival times are ``time.perf_counter()`` (CLOCK_MONOTONIC: one clock for every
process on the machine). They still share the machine with the nodes, PostgreSQL and
Redis, so the figures are an upper bound. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import secrets
import struct
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import SECRET, own_schema  # noqa: E402
from tests.integration.nodes import CONFERENCE, Node  # noqa: E402
from tests.integration.test_bus_outage import RedisProcess, _free_port  # noqa: E402

LAST_SEQ = re.compile(rb'"seq":(\d+)\}$')
SSE_ROS = re.compile(rb'data: (\{"type":"ros"[^\n]*)\n')
DEFAULT_DB = os.environ.get("CONFSVC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU time of a process so far, in seconds (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- the clients' child process ------------------------------------------------------


class Arrivals:
    """When each client first had each ``ros`` seq, per kind of client (``ws``, ``sse``);
    a line on stdout once every client of the process has a seq."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.seen: dict[int, dict[str, list[float]]] = {}

    def arrived(self, kind: str, seq: int) -> None:
        now = time.perf_counter()
        kinds = self.seen.setdefault(seq, {})
        kinds.setdefault(kind, []).append(now)
        if sum(len(v) for v in kinds.values()) == self.clients:
            times = {k: [min(v), max(v)] for k, v in kinds.items()}
            print(json.dumps({"seq": seq, "times": times}), flush=True)


class WsClient(asyncio.Protocol):
    """A minimal WebSocket client (RFC 6455): no extensions, text frames only."""

    def __init__(self, arrivals: Arrivals, host: str, path: str, token: str) -> None:
        self.arrivals = arrivals
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()
        self.token = token
        self.buf = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.welcomed = asyncio.get_running_loop().create_future()
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(head + mask + masked)

    def send_json(self, body: dict[str, Any]) -> None:
        self.send(0x1, json.dumps(body).encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.fail(f"no upgrade: {buf[:80]!r}")
                return
            self.upgraded = True
            buf = buf[end + 4 :]
            self.send_json({"type": "hello", "token": self.token})
        pos = 0
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, at = b1 & 0x7F, pos + 2
            if n == 126:
                if len(buf) - at < 2:
                    break
                (n,) = struct.unpack_from("!H", buf, at)
                at += 2
            elif n == 127:
                if len(buf) - at < 8:
                    break
                (n,) = struct.unpack_from("!Q", buf, at)
                at += 8
            if len(buf) - at < n:
                break
            self.frame(b0 & 0x0F, buf[at : at + n])
            pos = at + n
        self.buf = buf[pos:]

    def frame(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x1:
            if payload.startswith(b'{"type":"ros"'):
                found = LAST_SEQ.search(payload)
                if found:
                    self.arrivals.arrived("ws", int(found.group(1)))
            elif not self.welcomed.done() and payload.startswith(b'{"type":"welcome"'):
                self.welcomed.set_result(None)
            elif b'"id":' in payload[:80]:
                body = json.loads(payload)
                waiting = self.replies.get(body.get("id"))
                if waiting is not None and body.get("type") in ("ack", "error"):
                    waiting.set_result(body)
        elif opcode == 0x9:  # ping: the server's heartbeat
            self.send(0xA, payload)
        elif opcode == 0x8:
            self.fail(f"closed by the server: {payload[:2].hex()} {payload[2:80]!r}")

    def fail(self, why: str) -> None:
        for fut in (self.welcomed, *self.replies.values()):
            if not fut.done():
                fut.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(f"connection lost: {exc}")

    async def command(self, msg_id: int, name: str, key: str, **args: Any) -> dict[str, Any]:
        self.replies[msg_id] = asyncio.get_running_loop().create_future()
        self.send_json({"type": "command", "id": msg_id, "name": name, "args": args, "key": key})
        return await asyncio.wait_for(self.replies[msg_id], 120)


class SseClient(asyncio.Protocol):
    """The public event stream read off the socket: ``ros`` frames found in the bytes
    (chunk headers fall between SSE frames, never inside one)."""

    def __init__(self, arrivals: Arrivals, host: str, path: str) -> None:
        self.arrivals = arrivals
        self.request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
        self.buf = b""
        self.started = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request.encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.started.done():
            if b"\r\n\r\n" not in buf:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 200"):
                self.started.set_exception(ConnectionError(f"refused: {buf[:60]!r}"))
                return
            self.started.set_result(None)
        end = buf.rfind(b"\n\n")
        if end < 0:
            self.buf = buf
            return
        for found in SSE_ROS.finditer(buf, 0, end + 1):
            seq = LAST_SEQ.search(found.group(1))
            if seq:
                self.arrivals.arrived("sse", int(seq.group(1)))
        self.buf = buf[end + 2 :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.started.done():
            self.started.set_exception(ConnectionError(f"connection lost: {exc}"))


async def in_batches(coros: list[Any], size: int = 50) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(coros), size):
        out.extend(await asyncio.gather(*coros[i : i + size]))
    return out


async def child(port: int, tokens: list[str], readers: int) -> None:
    """Connect, say ``ready``; on ``ask`` every participant asks; print arrivals."""
    loop = asyncio.get_running_loop()
    arrivals = Arrivals(len(tokens) + readers)
    host = f"127.0.0.1:{port}"

    async def ws(token: str) -> WsClient:
        path = f"/c/{CONFERENCE}/ws"
        _, client = await loop.create_connection(
            lambda: WsClient(arrivals, host, path, token), "127.0.0.1", port
        )
        await asyncio.wait_for(client.welcomed, 60)
        return client

    async def sse() -> SseClient:
        path = f"/c/{CONFERENCE}/live/events"
        _, client = await loop.create_connection(
            lambda: SseClient(arrivals, host, path), "127.0.0.1", port
        )
        await asyncio.wait_for(client.started, 60)
        return client

    sockets: list[WsClient] = await in_batches([ws(t) for t in tokens])
    streams = await in_batches([sse() for _ in range(readers)])
    print(json.dumps({"ready": len(sockets) + len(streams)}), flush=True)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := (await stdin.readline()).strip():
        if line == b"ask":
            started = time.perf_counter()
            replies = await asyncio.gather(
                *(
                    s.command(1, "q.ask", f"ask-{secrets.token_hex(6)}", text=f"Question {i}")
                    for i, s in enumerate(sockets)
                )
            )
            refusals: dict[str, int] = {}
            for r in replies:
                if r["type"] != "ack":
                    refusals[r["code"]] = refusals.get(r["code"], 0) + 1
            seconds = time.perf_counter() - started
            print(
                json.dumps({"asked": len(replies), "refusals": refusals, "s": seconds}), flush=True
            )


# -- the parent ------------------------------------------------------------------


class Clients:
    """One child process of clients of one node, read line by line."""

    def __init__(self, node: Node, participants: int, readers: int) -> None:
        self.node = node
        self.participants = participants
        self.readers = readers
        self.proc: asyncio.subprocess.Process | None = None
        self.done: dict[int, dict[str, list[float]]] = {}
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def start(self, workdir: Path) -> None:
        tokens = workdir / f"tokens-{self.node.name}.json"
        tokens.write_text(
            json.dumps([self.node.token("participant") for _ in range(self.participants)])
        )
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--child",
            f"{self.node.port}:{tokens}:{self.readers}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 300)
        ready = json.loads(line or b"{}").get("ready")
        if ready != self.participants + self.readers:
            raise SystemExit(f"clients of {self.node.name} did not connect: {line!r}")
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            body = json.loads(line)
            if "seq" in body:
                self.done[body["seq"]] = body["times"]
            else:
                await self.replies.put(body)

    async def ask(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(b"ask\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(self.replies.get(), 300)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()  # by its own handle: the child this bench started
            await self.proc.wait()


@asynccontextmanager
async def cluster(db: str, workdir: Path, nodes: int = 3) -> AsyncIterator[list[Node]]:
    """Three nodes on a schema of their own and a redis-server of their own."""
    async with own_schema(db) as dsn:
        redis = RedisProcess(_free_port(), workdir)
        redis.start()
        extra = ("--redis", redis.url, "--log-level", "warning")
        cap = ("--connection-cap-exempt", "127.0.0.1")  # node C: 500 readers, one address
        running = [
            Node(workdir, n, db=dsn, secret=SECRET, extra=extra + (cap if n == "c" else ()))
            for n in "abc"[:nodes]
        ]
        try:
            for node in running:
                await asyncio.to_thread(node.start, 120.0)
            yield running
        finally:
            for node in running:
                node.stop()
            redis.kill()


def _ms(values: list[float], p: float) -> float | None:
    return round(percentile(values, p), 1) if values else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="confsvc-cluster-") as tmp:
        async with cluster(args.db, Path(tmp)) as nodes:
            a, b, c = nodes
            # The host's client too reads all along (it answers the heartbeat's pings).
            _, host = await asyncio.get_running_loop().create_connection(
                lambda: WsClient(
                    Arrivals(0), f"127.0.0.1:{a.port}", f"/c/{CONFERENCE}/ws", a.token("host")
                ),
                "127.0.0.1",
                a.port,
            )
            await asyncio.wait_for(host.welcomed, 60)
            reply = await host.command(1, "ros.start", "start")
            assert reply["type"] == "ack", reply
            on_b = args.participants // 2
            groups = [Clients(b, on_b, 0), Clients(c, args.participants - on_b, args.readers)]
            try:
                for group in groups:
                    await group.start(Path(tmp))
                # Phase 1: every participant asks at once.
                started = time.perf_counter()
                asked = await asyncio.gather(*(g.ask() for g in groups))
                ask_s = time.perf_counter() - started
                refusals: dict[str, int] = {}
                for result in asked:
                    for code, n in result["refusals"].items():
                        refusals[code] = refusals.get(code, 0) + n
                await asyncio.sleep(2)
                pids = {n.name: n.proc.pid for n in nodes if n.proc is not None}
                pids |= {f"clients_{g.node.name}": g.proc.pid for g in groups if g.proc}
                cpu_before = {name: cpu_s(pid) for name, pid in pids.items()}
                phase_started = time.perf_counter()
                # Phase 2: host actions; the time until the last client has each.
                latencies: list[float] = []
                acks: list[float] = []
                stages: dict[str, list[float]] = {}
                missing = 0
                for n in range(args.actions):
                    sent = time.perf_counter()
                    reply = await host.command(100 + n, "ros.extend", f"x-{n}", minutes=1)
                    if reply["type"] != "ack":
                        refusals[reply["code"]] = refusals.get(reply["code"], 0) + 1
                        continue
                    acks.append((time.perf_counter() - sent) * 1000)
                    seq = reply["seq"]
                    for _ in range(200):  # up to 10 s
                        if all(seq in g.done for g in groups):
                            break
                        await asyncio.sleep(0.01)
                    if not all(seq in g.done for g in groups):
                        missing += 1
                        continue
                    last = 0.0
                    for g in groups:
                        for kind, (first_t, last_t) in g.done[seq].items():
                            name = f"{g.node.name}_{kind}"
                            stages.setdefault(f"{name}_first", []).append((first_t - sent) * 1000)
                            stages.setdefault(f"{name}_last", []).append((last_t - sent) * 1000)
                            last = max(last, last_t)
                    latencies.append((last - sent) * 1000)
                    await asyncio.sleep(0.25)
                phase_s = time.perf_counter() - phase_started
                # CPU per action (100 % of a core = 1 s per s): what each process spent
                # in phase 2 over the actions, the 250 ms pauses' idle cost included.
                cpu_ms = {
                    name: round((cpu_s(pid) - cpu_before[name]) * 1000 / max(1, args.actions), 1)
                    for name, pid in pids.items()
                }
            finally:
                for group in groups:
                    await group.stop()
            rss = {n.name: rss_kib(n.proc.pid) for n in nodes if n.proc is not None}
            if host.transport is not None:
                host.transport.close()
    return {
        "nodes": 3,
        "websockets": args.participants,
        "sse_readers": args.readers,
        "asks": sum(r["asked"] for r in asked),
        "ask_seconds": round(ask_s, 2),
        "refusals": refusals,
        "actions": len(latencies),
        "actions_missing_a_client": missing,
        "last_client_ms_p50": _ms(latencies, 50),
        "last_client_ms_p99": _ms(latencies, 99),
        "last_client_ms_max": round(max(latencies), 1) if latencies else None,
        "host_ack_ms_p50": _ms(acks, 50),
        "stages_ms_p50": {k: _ms(v, 50) for k, v in sorted(stages.items())},
        "stages_ms_p99": {k: _ms(v, 99) for k, v in sorted(stages.items())},
        "cpu_ms_per_action": cpu_ms,
        "phase2_seconds": round(phase_s, 1),
        "node_rss_kib": rss,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--readers", type=int, default=500)
    parser.add_argument("--actions", type=int, default=40)
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL DSN (a schema is made)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # PORT:TOKENS_FILE:READERS
    args = parser.parse_args()
    if args.child:
        port, tokens, readers = args.child.split(":")
        asyncio.run(child(int(port), json.loads(Path(tokens).read_text()), int(readers)))
        return
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
