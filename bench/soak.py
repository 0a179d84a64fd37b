"""A soak as long as a real session (issue 12): three nodes, media, questions, the agenda.

    python bench/soak.py [--minutes 120] [--participants 300] [--viewers 100]

Three ``confsvc serve`` nodes on a PostgreSQL schema and a redis-server of their own
(bench/cluster.py). On node A: three site bots publishing (``confsvc bot``, a process
each) and ``--viewers`` light viewers (``confsvc loadtest --light``, one process), and the
host, who runs the agenda: start, then ``ros.next`` spread evenly over the run. On nodes
B and C: ``--participants`` WebSockets that ask (each about every ``--ask-every`` seconds,
keyed) and vote on what they are shown; a moderator on node A approves every question.
Every ``--sample`` seconds the resident memory (VmRSS) of each node is read. At the end,
after a quiet moment: is every acknowledged question in the store once, every vote, and
does every participant's view (what it was sent) equal what a new connection is shown?
A client whose socket drops resumes with its seq, as pages do. Memory growth is the slope
of a least-squares line over the second half of the run (the first is warm-up). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
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

from confsvc.store import open_store  # noqa: E402
from tests.conftest import SECRET, own_schema  # noqa: E402
from tests.integration.nodes import CONFERENCE, Node  # noqa: E402
from tests.integration.test_bus_outage import RedisProcess, _free_port  # noqa: E402

SITES = ["warsaw", "olsztyn", "weifang"]
DEFAULT_DB = os.environ.get("CONFSVC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class SoakNode(Node):
    """A node; with ``trace`` set, started with ``CONFSVC_TRACEMALLOC`` (confsvc/memdebug.py):
    on SIGUSR1 it appends what grew since the last signal to that file."""

    trace: Path | None = None

    def start(self, timeout: float = 180.0) -> Node:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFSVC_")}
        env["PYTHONPATH"] = str(ROOT)
        if self.trace is not None:
            env["CONFSVC_TRACEMALLOC"] = str(self.trace / f"{self.name}.tracemalloc")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv(), cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.wait_ready(timeout)
        return self


class Cluster:
    """The nodes, their Redis and one client session (no connection limit: each
    WebSocket holds one of its connections, and aiohttp's default is 100)."""

    def __init__(self, nodes: list[SoakNode], redis: RedisProcess) -> None:
        self.nodes = nodes
        self.redis = redis
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        )
        self.tasks: list[asyncio.Task[None]] = []

    def ws_url(self, node: Node) -> str:
        return f"ws://127.0.0.1:{node.port}/c/{CONFERENCE}/ws"

    async def ws(self, node: Node, token: str) -> aiohttp.ClientWebSocketResponse:
        """A socket past its welcome."""
        return (await self.ws_welcome(node, token))[0]

    async def ws_welcome(
        self, node: Node, token: str
    ) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
        """A socket and its welcome."""
        sock = await self.session.ws_connect(self.ws_url(node), max_msg_size=0)
        await sock.send_json({"type": "hello", "token": token})
        while True:
            msg = await sock.receive(timeout=60)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"no welcome from {node.name}: {msg}")
            body = json.loads(msg.data)
            if body.get("type") == "welcome":
                return sock, body

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.session.close()


@asynccontextmanager
async def cluster(db: str, workdir: Path, trace: Path | None) -> AsyncIterator[Cluster]:
    """Three nodes on a PostgreSQL schema of their own and a redis-server of their own."""
    async with own_schema(db) as dsn:
        redis = RedisProcess(_free_port(), workdir)
        redis.start()
        extra = ("--redis", redis.url, "--log-level", "warning")
        running = [SoakNode(workdir, n, db=dsn, secret=SECRET, extra=extra) for n in "abc"]
        for node in running:
            node.trace = trace
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
    sock: aiohttp.ClientWebSocketResponse,
    msg_id: int,
    name: str,
    key: str,
    meanwhile: list[dict[str, Any]] | None = None,
    **args: Any,
) -> dict[str, Any]:
    """Send a keyed command and wait for its answer; what else arrives in the meantime
    goes to ``meanwhile`` when given (else it is dropped)."""
    await sock.send_json({"type": "command", "id": msg_id, "name": name, "args": args, "key": key})
    while True:
        msg = await sock.receive(timeout=120)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"the socket closed: {msg}")
        body = json.loads(msg.data)
        if body.get("id") == msg_id and body.get("type") in ("ack", "error"):
            return body
        if meanwhile is not None:
            meanwhile.append(body)


async def connect_all(coros: list[Any], size: int = 50) -> list[Any]:
    out: list[Any] = []
    for i in range(0, len(coros), size):
        out.extend(await asyncio.gather(*coros[i : i + size]))
    return out


# What each sample reads from a node's /metrics: the event loop's lateness, and where its
# memory is (Python's live blocks; C malloc's heap in use and freed-but-kept).
GAUGES = {
    "confsvc_event_loop_lag_seconds": "loop_lag_s",
    "confsvc_python_allocated_blocks": "python_blocks",
    'confsvc_malloc_bytes{kind="in_use"}': "malloc_in_use",
    'confsvc_malloc_bytes{kind="free"}': "malloc_free",
    "confsvc_malloc_trimmed_bytes_total": "malloc_trimmed",
}


async def gauges(session: aiohttp.ClientSession, node: Node) -> dict[str, float]:
    """The ``GAUGES`` read from the node's /metrics (those it could not read are absent)."""
    try:
        async with session.get(
            f"http://127.0.0.1:{node.port}/metrics", timeout=aiohttp.ClientTimeout(total=10)
        ) as r:
            text = await r.text()
    except (aiohttp.ClientError, TimeoutError):
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in GAUGES:
            out[GAUGES[name]] = float(value)
    return out


def slope(samples: list[tuple[float, float]]) -> float:
    """Units a minute: least squares over (seconds, value)."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(k for _, k in samples) / n
    sxx = sum((t - mx) ** 2 for t, _ in samples)
    if sxx == 0:
        return 0.0
    sxy = sum((t - mx) * (k - my) for t, k in samples)
    return sxy / sxx * 60


def slope_per_min(samples: list[tuple[float, int]]) -> float:
    """MiB a minute: least squares over (seconds, KiB)."""
    return slope([(t, float(k)) for t, k in samples]) / 1024


class Participant:
    """One page: asks, votes on what it is shown, keeps the seq and resumes on a drop."""

    def __init__(self, c: Cluster, node: Any, token: str, n: int) -> None:
        self.c, self.node, self.token, self.n = c, node, token, n
        self.sock: aiohttp.ClientWebSocketResponse | None = None
        self.seq = 0
        self.person: str | None = None  # a shared audience link: who this page is
        self.shown: set[str] = set()
        self.voted: set[str] = set()
        self.asked: list[str] = []
        self.votes_acked = 0
        self.resumes = 0
        self.retries = 0  # sent again after a drop or no answer in 30 s
        self.unavailable = 0  # answered unavailable (the store saturated), sent again
        self.give_up_at = float("inf")
        self.snapshots = 0
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.next_id = 0

    async def connect(self) -> None:
        url = self.c.ws_url(self.node)
        self.sock = await self.c.session.ws_connect(url, max_msg_size=0)
        hello: dict[str, Any] = {"type": "hello", "token": self.token}
        if self.seq:
            hello["seq"] = self.seq
        if self.person is not None:
            hello["person"] = self.person
        await self.sock.send_json(hello)
        welcome = await self.sock.receive_json(timeout=60)
        assert welcome["type"] == "welcome", welcome
        self.person = welcome["you"].get("person_token") or self.person
        if welcome.get("resumed"):
            self.resumes += 1
        else:
            self.snapshots += 1 if self.seq else 0
            views = welcome["views"].get("questions") or {}
            self.shown = {q["id"] for q in views.get("items", [])}
        self.seq = max(self.seq, welcome["seq"])
        self.c.tasks.append(asyncio.ensure_future(self.read(self.sock)))

    async def read(self, sock: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in sock:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            body = json.loads(msg.data)
            if isinstance(body.get("seq"), int):
                self.seq = max(self.seq, body["seq"])
            kind = body.get("type")
            if kind == "q.shown":
                self.shown.add(body["item"]["id"])
            elif kind == "q.hidden":
                self.shown.discard(body["id"])
            elif kind in ("ack", "error") and body.get("id") in self.replies:
                self.replies.pop(body["id"]).set_result(body)
        for fut in self.replies.values():  # the socket dropped: these are sent again
            if not fut.done():
                fut.set_exception(ConnectionError("dropped"))
        self.replies.clear()

    async def command(self, name: str, key: str, **args: Any) -> dict[str, Any]:
        """Sent until answered, with its key, reconnecting (resuming) as needed; given up
        (``gave_up``, counted) past ``self.give_up_at``."""
        while True:
            if time.monotonic() > self.give_up_at:
                return {"type": "error", "code": "gave_up"}
            if self.sock is None or self.sock.closed:
                await self.connect()
            assert self.sock is not None
            self.next_id += 1
            fut = asyncio.get_running_loop().create_future()
            self.replies[self.next_id] = fut
            try:
                await self.sock.send_json(
                    {"type": "command", "id": self.next_id, "name": name, "args": args, "key": key}
                )
                reply = await asyncio.wait_for(fut, 30)
            except (ConnectionError, aiohttp.ClientError, TimeoutError):
                self.retries += 1
                with contextlib.suppress(Exception):
                    if self.sock is not None:
                        await self.sock.close()  # a reply that never came: a new socket
                continue
            if reply["type"] == "error" and reply.get("code") == "unavailable":
                self.unavailable += 1
                await asyncio.sleep(float(reply.get("retry_after", 1)))
                continue
            return reply

    async def run(self, until: float, ask_every: float, refusals: dict[str, int]) -> None:
        self.give_up_at = until + 120
        rng = random.Random(self.n)
        await asyncio.sleep(rng.uniform(0, ask_every))
        k = 0
        while time.monotonic() < until:
            k += 1
            if rng.random() < 0.5:
                reply = await self.command("q.ask", f"a{self.n}-{k}", text=f"p{self.n} q{k}")
                if reply["type"] == "ack":
                    self.asked.append(reply["ids"][0])
                else:
                    refusals[reply["code"]] = refusals.get(reply["code"], 0) + 1
            else:
                choices = sorted(self.shown - self.voted)
                if choices:
                    qid = rng.choice(choices)
                    reply = await self.command("q.vote", f"v{self.n}-{qid}", id=qid)
                    if reply["type"] == "ack":
                        self.voted.add(qid)
                        self.votes_acked += 1
                    elif reply["code"] not in ("invalid_state", "not_found"):  # answered, merged
                        refusals[reply["code"]] = refusals.get(reply["code"], 0) + 1
            await asyncio.sleep(rng.uniform(0.5, 1.5) * ask_every)


async def moderate(c: Cluster, node: Any, until: float, approved: set[str]) -> None:
    """Approve every question as it comes (keyed by id: a retry is the same approval). On a
    new socket the welcome's snapshot names what waits (what came while it was away)."""
    waiting = ("submitted", "pending")

    async def connect() -> tuple[aiohttp.ClientWebSocketResponse, list[str]]:
        for attempt in range(10):
            try:
                sock, welcome = await c.ws_welcome(node, node.token("moderator"))
                break
            except (ConnectionError, TimeoutError, aiohttp.ClientError):
                if attempt == 9:
                    raise
                await asyncio.sleep(1)
        items = welcome["views"]["questions"]["items"]
        return sock, [q["id"] for q in items if q.get("status") in waiting]

    sock, pending = await connect()
    seen: list[dict[str, Any]] = []
    n = 0
    while time.monotonic() < until + 5 or pending:
        try:
            msg = await sock.receive(timeout=1)
        except TimeoutError:
            msg = None
        if msg is not None and msg.type is aiohttp.WSMsgType.TEXT:
            seen.append(json.loads(msg.data))
        elif msg is not None and msg.type is not aiohttp.WSMsgType.TEXT:
            sock, pending = await connect()
        while seen or pending:
            for body in seen:  # what came, also while an approval waited for its ack
                items = [body["item"]] if body.get("type") == "q.item" else []
                pending += [q["id"] for q in items if q.get("status") in waiting]
            seen.clear()
            if not pending:
                break
            qid = pending.pop()
            if qid in approved:
                continue
            n += 1
            try:
                reply = await command(sock, 10_000 + n, "q.approve", f"ok-{qid}", seen, id=qid)
            except (ConnectionError, TimeoutError):
                sock, pending = await connect()
                continue
            if reply["type"] == "ack" or reply.get("code") == "invalid_state":
                approved.add(qid)
            elif reply.get("code") == "unavailable":  # the store was busy: again, later
                pending.insert(0, qid)
                await asyncio.sleep(float(reply.get("retry_after", 1)))
        if time.monotonic() > until + 5 and not pending:
            break


async def host(c: Cluster, node: Any, until: float, steps: int, faults: list[str]) -> int:
    """Start, then ``ros.next`` spread over the run, each keyed, on one socket kept open
    as the host's page keeps it (read all the time, so pings are answered; a reconnect
    costs a staff welcome, which holds every question). A command whose socket closed
    before its answer is sent again on a new one (the same step once stored), up to five
    times; each such close is in ``faults``."""
    sock: aiohttp.ClientWebSocketResponse | None = None
    replies: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT and '"id"' in msg.data:
                body = json.loads(msg.data)
                fut = replies.pop(body.get("id"), None)
                if fut is not None and not fut.done() and body.get("type") in ("ack", "error"):
                    fut.set_result(body)
        for fut in replies.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"the host's socket closed: {ws.close_code}"))
        replies.clear()

    async def keyed(msg_id: int, name: str, key: str) -> bool:
        nonlocal sock
        for _ in range(5):
            try:
                if sock is None or sock.closed:
                    sock = await c.ws(node, node.token("host"))
                    c.tasks.append(asyncio.ensure_future(read(sock)))
                fut = asyncio.get_running_loop().create_future()
                replies[msg_id] = fut
                body = {"type": "command", "id": msg_id, "name": name, "args": {}, "key": key}
                await sock.send_json(body)
                return (await asyncio.wait_for(fut, 120))["type"] == "ack"
            except (ConnectionError, TimeoutError, aiohttp.ClientError) as exc:
                faults.append(f"{name} {key}: {exc!r}"[:160])
                if sock is not None:
                    await sock.close()
                await asyncio.sleep(1)
        return False

    assert await keyed(1, "ros.start", "start")
    moved = 0
    pause = max(1.0, (until - time.monotonic()) / (steps + 1))
    while time.monotonic() + pause < until and moved < steps:
        await asyncio.sleep(pause)
        if await keyed(2 + moved, "ros.next", f"next-{moved}"):
            moved += 1
    if sock is not None:
        await sock.close()
    return moved


def media(c: Cluster, node: Any, viewers: int, seconds: float, tmp: Path) -> list[Any]:
    """Three site bots and the light viewers, each a process of its own."""
    base = [sys.executable, "-m", "confsvc"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFSVC_")}
    procs = []
    for site in SITES:
        link = node.link("site", site)
        cmd = [*base, "bot", "--link", link, "--seconds", str(seconds + 30), "--json"]
        cmd += ["--log-level", "info"]  # why a connection was started over, in site-*.err
        out = (tmp / f"site-{site}.json").open("wb")
        err = (tmp / f"site-{site}.err").open("wb")
        procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=err))
    links = [node.link("participant") for _ in range((viewers + 7) // 8)]
    cmd = [*base, "loadtest", "--light", "--participants", str(viewers), "--seconds", str(seconds)]
    for link in links:
        cmd += ["--link", link]
    out = (tmp / "viewers.json").open("wb")
    err = (tmp / "viewers.err").open("wb")
    procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=err))
    return procs


async def shown_to_a_new_page(c: Cluster, node: Any, issuer: Any) -> set[str]:
    sock, welcome = await c.ws_welcome(node, issuer.token("participant"))
    await sock.close()
    return {q["id"] for q in welcome["views"]["questions"]["items"]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.minutes * 60
    load_start = os.getloadavg()
    trace = Path(args.tracemalloc).resolve() if args.tracemalloc else None
    if trace is not None:
        trace.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="confsvc-soak-") as tmp:
        async with cluster(args.db, Path(tmp), trace) as c:
            a, b, d = c.nodes
            until = time.monotonic() + seconds
            bots = media(c, a, args.viewers, seconds, Path(tmp)) if args.viewers else []
            participants = [
                Participant(c, (b, d)[i % 2], a.token("participant"), i)
                for i in range(args.participants)
            ]
            await connect_all([p.connect() for p in participants])
            approved: set[str] = set()
            refusals: dict[str, int] = {}
            mod = asyncio.ensure_future(moderate(c, a, until, approved))
            host_faults: list[str] = []
            agenda = asyncio.ensure_future(host(c, a, until, 13, host_faults))
            samples: dict[str, list[tuple[float, int]]] = {n.name: [] for n in c.nodes}
            lags: dict[str, list[float]] = {n.name: [] for n in c.nodes}
            # (seconds, value) of the memory gauges, by node and gauge
            heaps: dict[str, dict[str, list[tuple[float, float]]]] = {n.name: {} for n in c.nodes}
            started = time.monotonic()
            half_wall = time.time() + seconds / 2  # the log's ``at`` is wall-clock time

            async def sample() -> None:
                traced = False
                while time.monotonic() < until:
                    for n in c.nodes:
                        assert n.proc is not None
                        samples[n.name].append((time.monotonic() - started, rss_kib(n.proc.pid)))
                        read = await gauges(c.session, n)
                        at = time.monotonic() - started
                        for key, value in read.items():
                            if key == "loop_lag_s":
                                lags[n.name].append(value)
                            else:
                                heaps[n.name].setdefault(key, []).append((at, value))
                    if args.tracemalloc and not traced and time.monotonic() - started > seconds / 2:
                        traced = True  # the baseline: what grows after this is in the 2nd dump
                        for n in c.nodes:
                            assert n.proc is not None
                            os.kill(n.proc.pid, signal.SIGUSR1)
                    await asyncio.sleep(args.sample)

            sampler = asyncio.ensure_future(sample())
            await asyncio.gather(*(p.run(until, args.ask_every, refusals) for p in participants))
            await asyncio.sleep(max(0.0, until - time.monotonic()))  # --participants 0: media alone
            try:
                moved = await agenda
            except Exception as exc:  # the figures of the run are kept all the same
                host_faults.append(f"host gave up: {exc!r}"[:160])
                moved = -1
            try:
                await asyncio.wait_for(mod, 120)
            except TimeoutError:
                refusals["moderator_unfinished"] = 1
            except Exception as exc:  # the figures of the run are kept all the same
                host_faults.append(f"moderator gave up: {exc!r}"[:160])
            sampler.cancel()
            await asyncio.sleep(3)  # quiet: the last messages arrive
            media_exits = []
            for bot in bots:
                try:
                    media_exits.append(bot.wait(timeout=120))
                except subprocess.TimeoutExpired:
                    bot.kill()  # by its own handle: a child this bench started
                    media_exits.append(bot.wait())
            store = await open_store(c.nodes[0].db)
            try:
                log = await store.read("weifang-olsztyn-2020")
            finally:
                await store.close()
            asked = [e.data["id"] for e in log if e.type == "q.asked"]
            late = [e for e in log if e.at >= half_wall]  # the second half's events
            votes = sum(1 for e in log if e.type == "q.voted")
            acked = [q for p in participants for q in p.asked]
            # What a new page is shown now, on each participants' node (``Cluster.ws``
            # reads the welcome itself and keeps it from us: a socket of our own).
            shown_now = {n.name: await shown_to_a_new_page(c, n, a) for n in (b, d)}
            diverged = sum(1 for p in participants if p.shown != shown_now[p.node.name])
            nodes_disagree = int(shown_now[b.name] != shown_now[d.name])
            if args.tracemalloc:
                for n in c.nodes:
                    assert n.proc is not None
                    os.kill(n.proc.pid, signal.SIGUSR1)
                await asyncio.sleep(30)  # a snapshot of a big heap takes a while
            viewers = _viewer_report(Path(tmp) / "viewers.json")
            sites = {site: _viewer_report(Path(tmp) / f"site-{site}.json") for site in SITES}
            if args.keep:  # the node logs, the bots' and viewers' output
                shutil.copytree(tmp, args.keep, dirs_exist_ok=True)
    half = [s for s in next(iter(samples.values())) if s[0] >= seconds / 2]
    asked_rate = sum(1 for e in late if e.type == "q.asked") / (seconds / 120)
    rss_late = {k: slope_per_min([s for s in v if s[0] >= seconds / 2]) for k, v in samples.items()}
    return {
        "minutes": args.minutes,
        "nodes": 3,
        "participants": args.participants,
        "viewers": args.viewers,
        "asked_acked": len(acked),
        "asked_stored": len(asked),
        # What the state grows by on every node, by design (bench/state_memory.py gives
        # the bytes per question): the second half's questions and events a minute.
        "asked_per_min_second_half": round(asked_rate, 1),
        "events_per_min_second_half": round(len(late) / (seconds / 120), 1),
        "asked_stored_twice": len(asked) - len(set(asked)),
        "acked_not_stored": len(set(acked) - set(asked)),
        "votes_acked": sum(p.votes_acked for p in participants),
        "votes_stored": votes,
        "approved": len(approved),
        "asked_not_approved": len(set(asked) - approved),
        "agenda_steps": moved,
        "host_faults": host_faults,
        "refusals": refusals,
        "participants_diverged": diverged,
        "nodes_disagree": nodes_disagree,
        "resumed": sum(p.resumes for p in participants),
        "sent_again_no_answer": sum(p.retries for p in participants),
        "answered_unavailable_then_stored": sum(p.unavailable for p in participants),
        "snapshots_after_a_drop": sum(p.snapshots for p in participants),
        "rss_mib_start": {k: round(v[0][1] / 1024, 1) for k, v in samples.items() if v},
        "rss_mib_end": {k: round(v[-1][1] / 1024, 1) for k, v in samples.items() if v},
        "rss_mib_per_min_first_half": {
            k: round(slope_per_min([s for s in v if s[0] < seconds / 2]), 3)
            for k, v in samples.items()
        },
        "rss_mib_per_min_second_half": {k: round(v, 3) for k, v in rss_late.items()},
        # The resident growth per question asked (KiB), to set beside what the state keeps
        # of one (bench/state_memory.py --wire): more than that is not the state.
        "rss_kib_per_question_second_half": {
            k: round(v * 1024 / asked_rate, 2) if asked_rate else None for k, v in rss_late.items()
        },
        "samples": len(half),
        "rss_mib_by_tenth": {
            k: [round(v[i * (len(v) - 1) // 10][1] / 1024, 1) for i in range(11)]
            for k, v in samples.items()
            if v
        },
        # Where the growth is, over the second half: Python's live blocks (thousands a
        # minute) and C malloc's heap in use and freed-but-kept (MiB a minute). RSS that
        # grows more than these is memory freed but not given back, or outside both.
        "heap_per_min_second_half": {
            node: {
                (f"{key}_k" if key == "python_blocks" else f"{key}_mib"): round(
                    slope([s for s in v if s[0] >= seconds / 2])
                    / (1000 if key == "python_blocks" else 1024 * 1024),
                    3,
                )
                for key, v in sorted(by.items())
            }
            for node, by in heaps.items()
        },
        "heap_end": {
            node: {
                (f"{key}_k" if key == "python_blocks" else f"{key}_mib"): round(
                    v[-1][1] / (1000 if key == "python_blocks" else 1024 * 1024), 1
                )
                for key, v in sorted(by.items())
                if v
            }
            for node, by in heaps.items()
        },
        # How late each node's event loop ran its probe timer, from its /metrics at each
        # sample: the largest, and the share of samples over 100 ms and over 1 s.
        "loop_lag_s_max": {k: round(max(v), 3) for k, v in lags.items() if v},
        "loop_lag_over_100ms_pct": {
            k: round(100 * sum(x > 0.1 for x in v) / len(v), 1) for k, v in lags.items() if v
        },
        "loop_lag_over_1s_pct": {
            k: round(100 * sum(x > 1.0 for x in v) / len(v), 1) for k, v in lags.items() if v
        },
        "media_exit_codes": media_exits,
        "viewers_report": viewers,
        "site_bots": sites,
        "log_events": len(log),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def _viewer_report(path: Path) -> Any:
    try:
        lines = path.read_text().strip().splitlines()
        body = json.loads(lines[-1]) if lines else "no output"
    except (OSError, ValueError) as exc:
        return f"unreadable: {exc!r}"[:200]
    if not isinstance(body, dict):
        return body
    out = {k: v for k, v in body.items() if not isinstance(v, (list, dict))}
    subscribers = body.get("subscribers")
    if isinstance(subscribers, list):  # confsvc loadtest: per viewer, per site
        out["subscribers"] = len(subscribers)
        rows = [(site, r) for sub in subscribers for site, r in sub.items()]
        for site in sorted({site for site, _ in rows}):
            mine = [r for s, r in rows if s == site]
            out[site] = {
                "viewers": len(mine),
                "video_fps_min": min(r["video_fps"] for r in mine),
                "video_fps_mean": round(sum(r["video_fps"] for r in mine) / len(mine), 1),
                "video_loss_pct_max": max(r["video_loss_pct"] for r in mine),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--ask-every", type=float, default=30.0, help="seconds, on average")
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between RSS reads")
    parser.add_argument("--db", default=DEFAULT_DB, help="PostgreSQL DSN (a schema is made)")
    parser.add_argument("--keep", metavar="DIR", help="copy the node logs and bot output here")
    parser.add_argument(
        "--tracemalloc",
        metavar="DIR",
        help="nodes trace allocations (slower); DIR/<node>.tracemalloc: growth over the 2nd half",
    )
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
