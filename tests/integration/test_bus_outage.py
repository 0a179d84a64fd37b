"""Redis down and back: the bus listener reconnects with backoff and resubscribes by
itself, ``/readyz`` names the bus while it is down, and a node starts while Redis is down
(confsvc/bus/redis.py). A throwaway redis-server on a free port, killed and restarted by
its PID."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE, Running

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """``redis-server`` on one port, without persistence, started and killed by PID."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _attempt in range(200):  # until it accepts connections
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError("redis-server exited at start") from None
                time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def pause(self) -> None:
        """SIGSTOP: connections stay open and are even accepted, but nothing answers."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisProcess(_free_port(), tmp_path)
    try:
        yield server
    finally:
        server.kill()


def _agenda(tmp_path: Path) -> Path:
    cid = f"bus-{secrets.token_hex(4)}"
    path = tmp_path / "agenda.yaml"
    path.write_text(
        SAMPLE.read_text("utf-8").replace("id: weifang-olsztyn-2020", f"id: {cid}", 1), "utf-8"
    )
    return path


async def _readyz(node: Running) -> tuple[int, dict[str, Any]]:
    resp = await node.client.get("/readyz")
    return resp.status, await resp.json()


async def _until(predicate: Any, what: str) -> None:
    for _attempt in range(400):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def test_redis_down_then_back_resubscribes_without_a_restart(
    redis_process: RedisProcess, confsvc_app: Any, tmp_path: Path
) -> None:
    redis_process.start()
    agenda = _agenda(tmp_path)
    # Two nodes on one SQLite file share the log; Redis tells each of the other's appends.
    node_a = await confsvc_app(agenda, redis=redis_process.url)
    node_b = await confsvc_app(agenda, redis=redis_process.url)
    assert await _readyz(node_a) == (200, {"ready": True})
    host_a, watcher_b = await node_a.ws("host"), await node_b.ws("moderator")
    bus_b = (await node_b.hub()).bus
    assert (bus_b.losses, bus_b.reconnects) == (0, 0)

    redis_process.kill()
    await _until(lambda: _down(node_b), "node B's readiness names the bus")
    status, body = await _readyz(node_b)
    assert status == 503
    assert body["down"]["bus"].startswith(f"Redis at {redis_process.url}: not subscribed (")
    assert bus_b.losses == 1
    # Commands still work while Redis is down: stored, acknowledged.
    assert (await host_a.command("ros.start"))["type"] == "ack"

    redis_process.start()
    await _until(lambda: _ready(node_b), "node B subscribed again")
    assert bus_b.reconnects == 1
    metrics = await (await node_b.client.get("/metrics")).text()
    assert "confsvc_bus_losses_total 1.0" in metrics.splitlines()
    assert "confsvc_bus_reconnects_total 1.0" in metrics.splitlines()
    # What was stored meanwhile reached node B (catch-up after resubscribing or poll) ...
    assert (await watcher_b.expect("ros"))["ros"]["status"] == "running"
    # ... and so does a new one.
    assert (await host_a.command("ros.next"))["type"] == "ack"
    assert (await watcher_b.expect("ros"))["ros"]["current"] == 1


async def _down(node: Running) -> bool:
    return (await _readyz(node))[0] == 503


async def _ready(node: Running) -> bool:
    return (await _readyz(node))[0] == 200


async def test_a_node_starts_while_redis_is_down_and_becomes_ready_when_it_returns(
    redis_process: RedisProcess, confsvc_app: Any, tmp_path: Path
) -> None:
    node = await confsvc_app(_agenda(tmp_path), redis=redis_process.url)
    status, body = await _readyz(node)
    assert status == 503
    assert list(body["down"]) == ["bus"]
    assert body["down"]["bus"].startswith(f"Redis at {redis_process.url}: not subscribed (")
    host = await node.ws("host")
    assert (await host.command("ros.start"))["type"] == "ack"  # serving, degraded
    redis_process.start()
    await _until(lambda: _ready(node), "subscribed once Redis is up")
    assert (await node.hub()).bus.reconnects == 0  # the first subscription, not a return


async def test_a_hung_redis_is_noticed_by_ping_and_left_for_a_new_subscription(
    redis_process: RedisProcess, confsvc_app: Any, tmp_path: Path
) -> None:
    redis_process.start()
    agenda = _agenda(tmp_path)
    node_a = await confsvc_app(agenda, redis=redis_process.url)
    node_b = await confsvc_app(agenda, redis=redis_process.url)
    host_a, watcher_b = await node_a.ws("host"), await node_b.ws("moderator")
    bus_b = (await node_b.hub()).bus
    assert await _readyz(node_b) == (200, {"ready": True})

    redis_process.pause()  # not down: stopped, so no connection is ever refused or reset
    await _until(lambda: _down(node_b), "node B notices that Redis stopped answering")
    status, body = await _readyz(node_b)
    assert status == 503
    assert body["down"]["bus"].startswith(
        f"Redis at {redis_process.url}: not subscribed (no answer to "
    )
    assert bus_b.losses == 1
    # Stored and acknowledged meanwhile (the publish gives up after a second).
    assert (await host_a.command("ros.start"))["type"] == "ack"

    redis_process.resume()
    await _until(lambda: _ready(node_b), "node B subscribed again")
    assert bus_b.reconnects == 1
    assert (await watcher_b.expect("ros"))["ros"]["status"] == "running"
    assert (await host_a.command("ros.next"))["type"] == "ack"
    assert (await watcher_b.expect("ros"))["ros"]["current"] == 1
