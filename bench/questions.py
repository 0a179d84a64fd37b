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


async def load(kind: str, base: str, n: int, pipe: Any) -> None:
    import aiohttp

    arrivals: dict[str, list[float]] = {}  # question -> [count, last arrival]

    def note(text: str | bytes) -> None:
        now = time.time()
        msg = json.loads(text)
        on_air = msg.get("on_air")
        if on_air:
            slot = arrivals.setdefault(on_air["id"], [0, 0.0])
            slot[0] += 1
            slot[1] = max(slot[1], now)

    ready = 0
    sem = asyncio.Semaphore(64)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, force_close=True),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
    )

    async def ws_client() -> None:
        nonlocal ready
        async with sem:
            ws = await session.ws_connect(f"{base}/c/{CONFERENCE}/ws", max_msg_size=0)
            await ws.send_str('{"type":"hello"}')
            first = await ws.receive()
            assert '"welcome"' in first.data[:40], first.data[:200]
        ready += 1
        async for msg in ws:
            if msg.data.startswith('{"type":"q.live"'):
                note(msg.data)

    async def sse_reader() -> None:
        nonlocal ready
        async with sem:
            resp = await session.get(f"{base}/c/{CONFERENCE}/live/events")
            resp.content._high_water = 1 << 20  # the welcome line is a few kB
            while not (await resp.content.readline()).startswith(b"data: "):
                pass
        ready += 1
        async for line in resp.content:
            if line.startswith(b'data: {"type":"q.live"'):
                note(line[6:])

    client = ws_client if kind == "ws" else sse_reader
    tasks = [asyncio.create_task(client()) for _ in range(n)]
    loop = asyncio.get_running_loop()
    while ready < n:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            pipe.send(("failed", repr(failed[0].exception())))
            return
        await asyncio.sleep(0.05)
    pipe.send(("ready", ready))
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    alive = sum(1 for t in tasks if not t.done())
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()
    pipe.send(("result", arrivals, alive))


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
