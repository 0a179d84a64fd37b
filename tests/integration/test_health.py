"""/healthz (liveness) and /readyz (the store answers, the bus is connected)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from confsvc.http.keys import HUBS, STORE
from confsvc.store import StoreError
from tests.conftest import Running


async def test_a_serving_node_is_live_and_ready(running: Running) -> None:
    live = await running.client.get("/healthz")
    assert (live.status, await live.json()) == (200, {"ok": True})
    ready = await running.client.get("/readyz")
    assert (ready.status, await ready.json()) == (200, {"ready": True})


async def test_readyz_is_503_naming_the_store_once_it_is_closed(running: Running) -> None:
    await running.app[STORE].close()
    resp = await running.client.get("/readyz")
    assert resp.status == 503
    path = running.config.db
    assert await resp.json() == {
        "ready": False,
        "down": {"store": f"SQLite {path}: the store is closed"},
    }
    # Liveness asks nothing of the store: the process still serves.
    assert (await running.client.get("/healthz")).status == 200


async def test_readyz_says_when_the_store_does_not_answer_in_time(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = running.app[STORE]

    async def hang() -> None:
        await asyncio.sleep(3600)

    monkeypatch.setattr(store, "ping", hang)
    monkeypatch.setattr("confsvc.http.api.READY_TIMEOUT_S", 0.05)
    resp = await running.client.get("/readyz")
    assert resp.status == 503
    assert await resp.json() == {"ready": False, "down": {"store": "no answer within 0.05 s"}}


async def test_readyz_names_a_failing_store_ping(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse() -> None:
        raise StoreError("PostgreSQL: ConnectionRefusedError: connection refused")

    monkeypatch.setattr(running.app[STORE], "ping", refuse)
    body = await (await running.client.get("/readyz")).json()
    assert body["down"] == {"store": "PostgreSQL: ConnectionRefusedError: connection refused"}


async def test_postgres_store_ping_answers_then_fails_once_closed(postgres_dsn: str) -> None:
    from confsvc.store.postgres import PostgresStore

    store = await PostgresStore.open(postgres_dsn)
    await store.ping()
    await store.close()
    with pytest.raises(StoreError, match="PostgreSQL: the connection pool is closed"):
        await store.ping()


# -- Redis ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def throwaway_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own on a free loopback port (killed by its PID)."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # bounded: up to 10 s for it to listen
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}")
            subprocess.run(["sleep", "0.05"], check=True)
        else:
            pytest.fail(f"redis-server did not listen on port {port}")
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def test_readyz_is_503_naming_the_bus_when_redis_stops(
    confsvc_app: Any, throwaway_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, proc = throwaway_redis
    running: Running = await confsvc_app(redis=url)
    ready = await running.client.get("/readyz")
    assert (ready.status, await ready.json()) == (200, {"ready": True})
    proc.kill()
    proc.wait(timeout=10)
    resp = await running.client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["ready"] is False
    assert list(body["down"]) == ["bus"]
    assert body["down"]["bus"].startswith(f"Redis at {url}")


async def test_local_bus_is_always_connected(running: Running) -> None:
    await running.app[HUBS].bus.ping()
