"""Shared fixtures: the sample agenda, a running confsvc app, invites, WebSocket clients,
and Chromium through Playwright for browser tests.

Services: ``CONFSVC_TEST_POSTGRES`` and ``CONFSVC_TEST_REDIS`` name the DSNs; a test that
needs one skips with a reason when it is unset. Chromium: ``/usr/bin/chromium``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient

from confsvc.config import Config
from confsvc.core.agenda import Agenda, parse_agenda
from confsvc.core.roles import Role, issue_invite
from confsvc.http.app import create_app
from confsvc.http.keys import HUBS

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
SECRET = b"test-secret-test-secret-test-secret-0123456789"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def sample_agenda() -> Agenda:
    return parse_agenda(SAMPLE.read_bytes())


@pytest.fixture
def postgres_dsn() -> str:
    dsn = os.environ.get("CONFSVC_TEST_POSTGRES")
    if not dsn:
        pytest.skip("CONFSVC_TEST_POSTGRES is not set (no PostgreSQL for this run)")
    return dsn


@contextlib.asynccontextmanager
async def own_schema(dsn: str) -> AsyncIterator[str]:
    """``dsn`` with its tables in a schema of this test's own (PostgreSQL is shared between
    runs and helpers: its nodes and leases must not meet another test's); dropped after."""
    import secrets

    import asyncpg

    schema = f"t_{secrets.token_hex(5)}"
    con = await asyncpg.connect(dsn)
    await con.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"
    finally:
        await con.execute(f"DROP SCHEMA {schema} CASCADE")
        await con.close()


@pytest.fixture
async def postgres_schema(postgres_dsn: str) -> AsyncIterator[str]:
    """``own_schema`` of CONFSVC_TEST_POSTGRES (skips without it)."""
    async with own_schema(postgres_dsn) as dsn:
        yield dsn


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("CONFSVC_TEST_REDIS")
    if not url:
        pytest.skip("CONFSVC_TEST_REDIS is not set (no Redis for this run)")
    return url


class Running:
    """A confsvc app under test: its client, config and helpers to make invites."""

    def __init__(self, client: TestClient, config: Config, conference: str) -> None:
        self.client = client
        self.config = config
        self.conference = conference

    @property
    def app(self) -> web.Application:
        return self.client.server.app

    @property
    def base_url(self) -> str:
        return str(self.client.server.make_url("")).rstrip("/")

    def token(self, role: str, site: str | None = None, **kw: Any) -> str:
        _, token = issue_invite(
            SECRET, conference=self.conference, role=Role(role), site=site, now=time.time(), **kw
        )
        return token

    def link(self, role: str, site: str | None = None, **kw: Any) -> str:
        return f"{self.base_url}/j/{self.token(role, site, **kw)}"

    async def hub(self) -> Any:
        return await self.app[HUBS].get(self.conference)

    async def ws(
        self,
        role: str | None,
        site: str | None = None,
        *,
        token: str | None = None,
        person: str | None = None,
    ) -> WsClient:
        """A connection on a new link for ``role``, or on ``token``. On a shared audience
        link (a participant link without a name) each connection is a new person unless
        ``person`` names one (the ``you.person_token`` of an earlier welcome)."""
        sock = await self.client.ws_connect(f"/c/{self.conference}/ws")
        hello: dict[str, Any] = {"type": "hello"}
        if token is not None:
            hello["token"] = token
        elif role is not None:
            hello["token"] = self.token(role, site)
        if person is not None:
            hello["person"] = person
        await sock.send_json(hello)
        client = WsClient(sock)
        client.welcome = await client.expect("welcome")
        return client


class WsClient:
    """A test client of the conference WebSocket.

    Messages not yet asked for wait in ``inbox``: ``expect(kind)`` takes the oldest of
    that kind (from the inbox first), so replies and broadcasts can come in any order.
    """

    def __init__(self, sock: ClientWebSocketResponse) -> None:
        self.sock = sock
        self.welcome: dict[str, Any] = {}
        self._id = 0
        self.seen: list[dict[str, Any]] = []
        self.inbox: list[dict[str, Any]] = []

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        msg = await self.sock.receive_json(timeout=timeout)
        self.seen.append(msg)
        return msg

    async def expect(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The oldest message of type ``kind`` not taken yet."""
        for i, msg in enumerate(self.inbox):
            if msg.get("type") == kind:
                return self.inbox.pop(i)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(
                    f"no {kind!r} message; saw {[m.get('type') for m in self.seen]}"
                )
            msg = await self.recv(timeout=left)
            if msg.get("type") == kind:
                return msg
            self.inbox.append(msg)

    async def command(self, name: str, **args: Any) -> dict[str, Any]:
        """Send a command and return its ack or error (other messages go to the inbox)."""
        self._id += 1
        my = self._id
        await self.sock.send_json({"type": "command", "id": my, "name": name, "args": args})
        while True:
            msg = await self.recv()
            if msg.get("id") == my and msg.get("type") in ("ack", "error"):
                return msg
            self.inbox.append(msg)

    async def close(self) -> None:
        await self.sock.close()


AppFactory = Callable[..., Any]


@pytest.fixture
async def confsvc_app(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Callable[..., Any]]:
    """``await confsvc_app(agenda_path=..., **config)`` starts confsvc on 127.0.0.1."""

    async def start(agenda_path: Path = SAMPLE, **overrides: Any) -> Running:
        settings: dict[str, Any] = {
            "db": str(tmp_path / "confsvc.db"),
            "agendas": [agenda_path],
            "secret_file": tmp_path / "confsvc.secret",
            "ice_addresses": ["127.0.0.1"],
            **overrides,
        }
        clock = settings.pop("clock", time.time)  # a test's own clock (invite expiry, hubs)
        cfg = Config(**settings)
        app = create_app(cfg, secret=SECRET, clock=clock)
        client = await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"})
        conference = parse_agenda(agenda_path.read_bytes()).conference.id
        return Running(client, cfg, conference)

    yield start


@pytest.fixture
async def running(confsvc_app: Callable[..., Any]) -> Running:
    return await confsvc_app()


# -- browser -------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def _threads_left() -> list[str]:
    import threading

    return sorted(
        t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()
    )


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """A non-daemon thread still alive when the tests are done fails the run and is named.

    Leaks are also tested for explicitly (the relay's join/leave test counts threads);
    this catches a thread any other test left behind. The threads get a moment to end
    (a decoder thread stopping with its connection), then the run fails with their
    names instead of hanging at exit.
    """
    import sys
    import threading
    import time

    deadline = time.monotonic() + 5
    while _threads_left() and time.monotonic() < deadline:
        for t in threading.enumerate():
            if not t.daemon and t is not threading.main_thread():
                t.join(timeout=0.1)
    left = _threads_left()
    if left:
        sys.stderr.write(f"\nconfsvc tests FAILED: non-daemon threads left at exit: {left}\n")
        sys.stderr.flush()
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        session.config._confsvc_threads_left = left
    session.config._confsvc_exitstatus = int(session.exitstatus)


def pytest_unconfigure(config: Any) -> None:
    """Never hang at exit on those threads: the run has already failed, naming them."""
    import sys

    if getattr(config, "_confsvc_threads_left", None):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(config, "_confsvc_exitstatus", 1))
