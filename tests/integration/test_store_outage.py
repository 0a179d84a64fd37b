"""PostgreSQL blocked or down: commands answer ``unavailable`` with ``retry_after`` within
``store_timeout_s`` (no lock held across the wait), and the same command sent again with
its key once PostgreSQL is back is stored once (confsvc/store/guarded.py).

Between confsvc and PostgreSQL sits a TCP proxy in the test process, which the test
pauses (bytes held: nothing answers) or takes down (connections cut and refused).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp import FormData

from tests.conftest import SAMPLE, Running
from tests.integration.test_idempotency import keyed

TIMEOUT_S = 0.5


class Proxy:
    """A TCP proxy on a free loopback port: ``pause`` holds every byte, ``down`` cuts and
    refuses connections, ``resume`` drops what was held and forwards again."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.listen_port = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.refusing = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.listen_port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))
        for task in (
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ):
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()  # paused: the bytes wait here
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def _cut(self) -> None:
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()

    def pause(self) -> None:
        self.flowing.clear()

    def down(self) -> None:
        self.refusing = True
        self._cut()

    def resume(self) -> None:
        self._cut()  # what was held never reaches PostgreSQL
        self.refusing = False
        self.flowing.set()

    async def close(self) -> None:
        self.resume()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def pg_proxy(postgres_dsn: str) -> AsyncIterator[tuple[Proxy, str]]:
    """The proxy and a DSN through it (torn down after the app that uses it)."""
    parts = urlsplit(postgres_dsn)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    user = f"{parts.username}@" if parts.username else ""
    netloc = f"{user}127.0.0.1:{proxy.listen_port}"
    try:
        yield proxy, urlunsplit(parts._replace(netloc=netloc))
    finally:
        await proxy.close()


async def _node(confsvc_app: Any, tmp_path: Path, dsn: str) -> Running:
    cid = f"outage-{secrets.token_hex(4)}"
    agenda_path = tmp_path / "agenda.yaml"
    agenda_path.write_text(
        SAMPLE.read_text("utf-8").replace("id: weifang-olsztyn-2020", f"id: {cid}", 1), "utf-8"
    )
    return await confsvc_app(agenda_path, db=dsn, store_timeout_s=TIMEOUT_S)


async def _until_stored(client: Any, key: str, text: str) -> dict[str, Any]:
    """Send again with the same key after each ``retry_after``, as a page does."""
    for _attempt in range(50):
        reply = await keyed(client, "q.ask", key, text=text)
        if reply["type"] == "ack":
            return reply
        assert reply["code"] == "unavailable", reply
        await asyncio.sleep(reply["retry_after"] / 10)
    raise AssertionError("the store never came back")


async def _asked(node: Running) -> list[str]:
    hub = await node.hub()
    return [e.data["text"] for e in await hub.store.read(hub.id) if e.type == "q.asked"]


async def test_blocked_postgresql_answers_unavailable_and_the_key_stores_once(
    pg_proxy: tuple[Proxy, str], confsvc_app: Any, tmp_path: Path
) -> None:
    proxy, dsn = pg_proxy
    node = await _node(confsvc_app, tmp_path, dsn)
    alice, bob = await node.ws("participant"), await node.ws("participant")
    assert (await keyed(alice, "q.ask", "before", text="Before the outage"))["type"] == "ack"
    proxy.pause()
    # Two commands at once: each is answered within the deadline, none waits behind a
    # lock held across the blocked call.
    refused = await asyncio.gather(
        keyed(alice, "q.ask", "during", text="Asked during the outage"),
        keyed(bob, "q.ask", "bob", text="Bob asks during the outage"),
    )
    for reply in refused:
        assert (reply["type"], reply["code"], reply["retry_after"]) == (
            "error",
            "unavailable",
            1.0,
        )
        assert reply["message"] == (
            f"the store did not answer within {TIMEOUT_S:g} s; "
            "send the command again with the same key"
        )
    proxy.resume()
    first = await _until_stored(alice, "during", "Asked during the outage")
    again = await _until_stored(alice, "during", "Asked during the outage")
    assert first["ids"] == again["ids"] == ["q-2"]
    assert await _asked(node) == ["Before the outage", "Asked during the outage"]


async def test_postgresql_down_answers_unavailable_and_recovers(
    pg_proxy: tuple[Proxy, str], confsvc_app: Any, tmp_path: Path
) -> None:
    proxy, dsn = pg_proxy
    node = await _node(confsvc_app, tmp_path, dsn)
    alice = await node.ws("participant")
    proxy.down()
    reply = await keyed(alice, "q.ask", "down", text="Asked while PostgreSQL is down")
    assert (reply["type"], reply["code"], reply["retry_after"]) == ("error", "unavailable", 1.0)
    assert reply["message"].startswith("the store is unavailable (")
    proxy.resume()
    await _until_stored(alice, "down", "Asked while PostgreSQL is down")
    await _until_stored(alice, "down", "Asked while PostgreSQL is down")
    assert await _asked(node) == ["Asked while PostgreSQL is down"]


async def test_http_post_during_an_outage_is_503_with_retry_after_then_stored_once(
    pg_proxy: tuple[Proxy, str], confsvc_app: Any, tmp_path: Path
) -> None:
    proxy, dsn = pg_proxy
    node = await _node(confsvc_app, tmp_path, dsn)
    token = node.token("host")

    async def post() -> tuple[int, str | None, dict[str, Any]]:
        form = FormData(default_to_multipart=True)
        form.add_field("text", "Posted during the outage")
        resp = await node.client.post(
            f"/c/{node.conference}/posts",
            data=form,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "post-outage"},
        )
        return resp.status, resp.headers.get("Retry-After"), await resp.json()

    proxy.pause()
    status, retry_after, body = await post()
    assert (status, retry_after, body["code"], body["retry_after"]) == (
        503,
        "1",
        "unavailable",
        1.0,
    )
    proxy.resume()
    for _attempt in range(50):
        status, _, body = await post()
        if status == 200:
            break
        assert status == 503, body
        await asyncio.sleep(0.1)
    assert (status, body) == (200, {"id": "p-1"})
    assert await post() == (200, None, {"id": "p-1"})
    hub = await node.hub()
    posts = [e for e in await hub.store.read(hub.id) if e.type == "post.published"]
    assert len(posts) == 1
