"""Question queue fan-out benchmark: from a moderator's "put on air" to the last client.

    python bench/questions.py [--quick] [--ws-clients N] [--sse-readers N]

One confsvc node runs in its own process (SQLite store, the sample agenda, the run of show
started). Load processes hold the clients on loopback: public WebSocket clients (phase 1)
and public-page SSE readers (phase 2). A moderator puts a question on air (with an
answering site, so the floor changes too) and takes it off air again, at a steady pace;
each client notes when the ``q.live`` message naming that question arrives. Latency of an
action = last client's arrival − the moment the moderator sent the command. All processes
read the same wall clock. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
CONFERENCE = "weifang-olsztyn-2020"


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the server process ----------------------------------------------------------


def serve(port: int, db: str) -> None:
    import logging

    from aiohttp import web

    from confsvc.config import Config
    from confsvc.http.app import create_app

    raise_fd_limit()
    logging.basicConfig(level=logging.WARNING)
    cfg = Config(db=db, port=port, agendas=[SAMPLE], secret_file=Path(db + ".secret"))
    app = create_app(cfg, secret=os.environ["CONFSVC_SECRET"].encode())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=4096)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- load processes ----------------------------------------------------------------


def load_main(kind: str, base: str, n: int, pipe: Any) -> None:
    raise_fd_limit()
    asyncio.run(load(kind, base, n, pipe))


ON_AIR = b'{"type":"q.live","on_air":{"id":"'


class Arrivals:
    """question -> [clients that got it, last arrival]: what one load process saw."""

    def __init__(self) -> None:
        self.by_question: dict[str, list[float]] = {}

    def scan(self, buf: bytearray, now: float) -> None:
        """Note every complete on-air marker in ``buf``; drop what was read."""
        pos = 0
        while True:
            at = buf.find(ON_AIR, pos)
            if at < 0:
                break
            start = at + len(ON_AIR)
            end = buf.find(b'"', start)
            if end < 0:
                pos = at
                break
            slot = self.by_question.setdefault(buf[start:end].decode(), [0, 0.0])
            slot[0] += 1
            slot[1] = max(slot[1], now)
            pos = end
        keep = max(pos, len(buf) - len(ON_AIR) - 16)
        del buf[:keep]


class SseClient(asyncio.Protocol):
    """A public-page reader that only looks for the on-air marker in the byte stream
    (cheap, so the load generator measures the server, not itself)."""

    def __init__(self, request: bytes, arrivals: Arrivals, ready: asyncio.Future[None]) -> None:
        self.request, self.arrivals, self.ready = request, arrivals, ready
        self.buf = bytearray()

    def connection_made(self, transport: Any) -> None:
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.ready.done():
            if b'"type":"welcome"' in data:
                self.ready.set_result(None)
            return
        self.buf += data
        self.arrivals.scan(self.buf, now)


class WsClient(asyncio.Protocol):
    """A public WebSocket client: handshake, hello, then frames (answers pings)."""

    def __init__(self, request: bytes, arrivals: Arrivals, ready: asyncio.Future[None]) -> None:
        self.request, self.arrivals, self.ready = request, arrivals, ready
        self.buf = bytearray()
        self.upgraded = False
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            assert self.buf.startswith(b"HTTP/1.1 101"), bytes(self.buf[:100])
            del self.buf[: end + 4]
            self.upgraded = True
            self.send(1, b'{"type":"hello"}')
        buf = self.buf
        while len(buf) >= 2:
            opcode, length, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, off = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + length:
                return
            if opcode == 1:
                if buf.startswith(ON_AIR, off):
                    end = buf.find(b'"', off + len(ON_AIR))
                    slot = self.arrivals.by_question.setdefault(
                        buf[off + len(ON_AIR) : end].decode(), [0, 0.0]
                    )
                    slot[0] += 1
                    slot[1] = max(slot[1], now)
                elif not self.ready.done() and buf.startswith(b'{"type":"welcome"', off):
                    self.ready.set_result(None)
            elif opcode == 9:
                self.send(10, bytes(buf[off : off + length]))
            del buf[: off + length]


async def load(kind: str, base: str, n: int, pipe: Any) -> None:
    import base64

    host, port = base.removeprefix("http://").split(":")
    arrivals = Arrivals()
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(64)
    transports: list[Any] = []
    if kind == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /c/{CONFERENCE}/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        factory: Any = WsClient
    else:
        request = (
            f"GET /c/{CONFERENCE}/live/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        factory = SseClient

    async def connect() -> None:
        async with sem:
            ready: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda: factory(request, arrivals, ready), host, int(port)
            )
            transports.append(transport)
            await asyncio.wait_for(ready, 60)

    results = await asyncio.gather(*(connect() for _ in range(n)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        pipe.send(("failed", f"{len(failed)} of {n} failed: {failed[0]!r}"))
        return
    pipe.send(("ready", n))
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    alive = sum(1 for t in transports if not t.is_closing())
    for t in transports:
        t.close()
    pipe.send(("result", arrivals.by_question, alive))


# -- the moderator -------------------------------------------------------------------


async def staff(base: str, secret: bytes, role: str) -> Any:
    import aiohttp

    from confsvc.core.roles import Role, issue_invite

    _, token = issue_invite(secret, conference=CONFERENCE, role=Role(role), now=time.time())
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"{base}/c/{CONFERENCE}/ws", max_msg_size=0)
    await ws.send_json({"type": "hello", "token": token})
    while (await ws.receive_json())["type"] != "welcome":
        pass
    return session, ws


async def run_command(ws: Any, name: str, **args: Any) -> dict[str, Any]:
    mid = secrets.token_hex(4)
    await ws.send_json({"type": "command", "id": mid, "name": name, "args": args})
    while True:
        msg = await ws.receive_json()
        if msg.get("id") == mid:
            if msg["type"] != "ack":
                raise RuntimeError(f"{name}: {msg}")
            return msg


async def prepare(base: str, secret: bytes, n_questions: int) -> None:
    host_session, host = await staff(base, secret, "host")
    await run_command(host, "ros.start")
    rows = [
        {"line": i + 2, "text": f"Question {i + 1}: how do you test at scale?", "site": "olsztyn"}
        for i in range(n_questions)
    ]
    mods = [await staff(base, secret, "moderator") for _ in range(n_questions // 30 + 1)]
    await run_command(mods[0][1], "q.import", rows=rows)
    for k, (_s, ws) in enumerate(mods):  # 30 each: under one connection's message burst
        for i in range(k * 30, min(n_questions, (k + 1) * 30)):
            await run_command(ws, "q.approve", id=f"q-{i + 1}")
    for session, ws in [*mods, (host_session, host)]:
        await ws.close()
        await session.close()


async def drive(
    base: str, secret: bytes, first: int, actions: int, interval: float
) -> dict[str, float]:
    """Put questions first+1 … first+actions on air and off again; when each was sent."""
    session, ws = await staff(base, secret, "moderator")
    errors: list[Any] = []

    async def drain() -> None:
        async for msg in ws:
            data = json.loads(msg.data)
            if data.get("type") == "error":
                errors.append(data)

    reader = asyncio.create_task(drain())
    sent: dict[str, float] = {}
    for i in range(actions):
        qid = f"q-{first + i + 1}"
        on = {
            "type": "command",
            "id": f"on{i}",
            "name": "q.on_air",
            "args": {"id": qid, "site": "weifang"},
        }
        off = {"type": "command", "id": f"off{i}", "name": "q.off_air", "args": {"id": qid}}
        text_on, text_off = json.dumps(on), json.dumps(off)
        sent[qid] = time.time()
        await ws.send_str(text_on)
        await asyncio.sleep(interval / 2)
        await ws.send_str(text_off)
        await asyncio.sleep(interval / 2)
    await asyncio.sleep(1.0)
    reader.cancel()
    await ws.close()
    await session.close()
    if errors:
        raise RuntimeError(f"moderator commands failed: {errors[:3]}")
    return sent


# -- phases ----------------------------------------------------------------------------


def start_load(kind: str, base: str, total: int, procs: int) -> list[tuple[Any, Any]]:
    ctx = mp.get_context("spawn")
    out = []
    for k in range(procs):
        n = total // procs + (1 if k < total % procs else 0)
        parent, child = ctx.Pipe()
        p = ctx.Process(target=load_main, args=(kind, base, n, child), daemon=True)
        p.start()
        out.append((p, parent))
    for p, pipe in out:
        if not pipe.poll(180):
            raise RuntimeError(f"{kind} load process {p.pid} did not get ready")
        status, value = pipe.recv()
        if status != "ready":
            raise RuntimeError(f"{kind} load process {p.pid}: {value}")
    return out


def stop_load(loads: list[tuple[Any, Any]]) -> tuple[dict[str, list[float]], int]:
    merged: dict[str, list[float]] = {}
    alive = 0
    for _p, pipe in loads:
        pipe.send("stop")
    for p, pipe in loads:
        _status, arrivals, n_alive = pipe.recv()
        alive += n_alive
        for qid, (count, last) in arrivals.items():
            slot = merged.setdefault(qid, [0, 0.0])
            slot[0] += count
            slot[1] = max(slot[1], last)
        p.join(10)
        if p.is_alive():
            p.terminate()
    return merged, alive


def summarize(
    sent: dict[str, float], arrivals: dict[str, list[float]], clients: int
) -> dict[str, Any]:
    lat = []
    missed = 0
    for qid, t0 in sent.items():
        count, last = arrivals.get(qid, (0, 0.0))
        missed += clients - int(count)
        if count:
            lat.append((last - t0) * 1000.0)
    lat.sort()
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
    return {
        "p50_ms": round(q[49], 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(lat[-1], 1),
        "missed": missed,
    }


async def phase(base: str, secret: bytes, server_pid: int, kind: str, clients: int, procs: int,
                first: int, actions: int, interval: float) -> dict[str, Any]:  # fmt: skip
    t = time.perf_counter()
    loads = await asyncio.to_thread(start_load, kind, base, clients, procs)
    print(f"{kind}: {clients} clients connected in {time.perf_counter() - t:.1f} s", flush=True)
    cpu0 = cpu_seconds(server_pid)
    sent = await drive(base, secret, first, actions, interval)
    cpu = cpu_seconds(server_pid) - cpu0
    arrivals, alive = await asyncio.to_thread(stop_load, loads)
    out = summarize(sent, arrivals, clients)
    out["server_cpu_ms_per_action"] = round(cpu * 1000 / actions, 1)
    out["still_connected"] = alive
    print(
        f"{kind}: {clients} clients, {actions} actions {interval * 1000:.0f} ms apart: "
        f"to last client p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms, max {out['max_ms']} ms; "
        f"missed {out['missed']}; server CPU {out['server_cpu_ms_per_action']} ms per action "
        f"(on air + off air); {alive} still connected",
        flush=True,
    )
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_urlsafe(48)
    tmp = tempfile.mkdtemp(prefix="confsvc-bench-")
    db = os.path.join(tmp, "bench.db")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CONFSVC_SECRET": secret}
    server = subprocess.Popen(  # noqa: ASYNC220 (started once, before any client)
        [sys.executable, __file__, "--serve", str(port), "--db", db], env=env, cwd=str(ROOT)
    )
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        await prepare(base, secret.encode(), args.actions + args.sse_actions)
        ws = await phase(base, secret.encode(), server.pid, "ws", args.ws_clients, args.procs,
                         0, args.actions, args.interval)  # fmt: skip
        sse = await phase(base, secret.encode(), server.pid, "sse", args.sse_readers, args.procs,
                          args.actions, args.sse_actions, args.sse_interval)  # fmt: skip
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {
        "ws_clients": args.ws_clients,
        "actions": args.actions,
        "interval_ms": round(args.interval * 1000),
        "p50_ms": ws["p50_ms"],
        "p99_ms": ws["p99_ms"],
        "max_ms": ws["max_ms"],
        "ws_missed": ws["missed"],
        "ws_server_cpu_ms_per_action": ws["server_cpu_ms_per_action"],
        "sse_readers": args.sse_readers,
        "sse_actions": args.sse_actions,
        "sse_interval_ms": round(args.sse_interval * 1000),
        "sse_p50_ms": sse["p50_ms"],
        "sse_p99_ms": sse["p99_ms"],
        "sse_max_ms": sse["max_ms"],
        "sse_missed": sse["missed"],
        "sse_server_cpu_ms_per_action": sse["server_cpu_ms_per_action"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small run, under a minute")
    p.add_argument("--ws-clients", type=int, default=None)
    p.add_argument("--sse-readers", type=int, default=None)
    p.add_argument("--actions", type=int, default=None, help="put-on-air actions, WebSocket phase")
    p.add_argument("--sse-actions", type=int, default=None)
    p.add_argument("--interval", type=float, default=0.25, help="seconds between actions (WS)")
    p.add_argument("--sse-interval", type=float, default=1.0, help="seconds between actions (SSE)")
    p.add_argument("--procs", type=int, default=2, help="load processes per phase")
    p.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--db", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:
        serve(args.serve, args.db)
        return
    quick = args.quick
    args.ws_clients = args.ws_clients or (100 if quick else 1000)
    args.sse_readers = args.sse_readers or (500 if quick else 5000)
    args.actions = args.actions or (40 if quick else 200)
    args.sse_actions = args.sse_actions or (20 if quick else 100)
    if quick:
        args.interval, args.sse_interval = min(args.interval, 0.1), min(args.sse_interval, 0.25)
    print(f"fd limit {raise_fd_limit()}; {os.cpu_count()} CPUs", flush=True)
    result = asyncio.run(main_async(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
